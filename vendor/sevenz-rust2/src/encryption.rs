#[cfg(feature = "aes256")]
mod aes;
mod password;

#[cfg(feature = "aes256")]
pub(crate) use aes::*;
pub use password::*;
