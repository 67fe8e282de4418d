#[cfg(feature = "brotli")]
pub mod brotli;
#[cfg(feature = "lz4")]
pub mod lz4;
