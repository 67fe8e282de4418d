//! `midid`: the import daemon's library. `main.rs` only calls [`cli::run`]; the integration
//! tests and the benchmark use the same pieces.

pub mod analysis;
pub mod buf;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dedupe;
pub mod discover;
pub mod engine;
pub mod eval;
pub mod export;
pub mod gen;
pub mod hygiene;
pub mod job;
pub mod library;
pub mod lockfile;
pub mod midi;
pub mod objects;
pub mod reject;
pub mod server;
pub mod shard;
pub mod unpack;
