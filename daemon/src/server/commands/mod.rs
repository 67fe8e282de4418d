//! One file per request, as on the client side: each turns a request into a response.

pub mod cancel;
pub mod dupes;
pub mod export;
pub mod gc;
pub mod import;
pub mod jobs;
pub mod rejects;
pub mod rename;
pub mod search;
pub mod show;
pub mod shutdown;
pub mod status;
pub mod verify;
