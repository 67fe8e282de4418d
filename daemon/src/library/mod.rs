//! The library stage: what turns found files into something a producer can use, without
//! touching the originals: clean names (`sanitize`), one file per part (`split`).

pub mod rename;
pub mod sanitize;
pub mod split;
