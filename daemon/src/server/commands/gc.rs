//! `gc`: removes objects no catalog row names and stale temp files, or with `dry_run` lists them.
//!
//! Runs on this connection's own thread (the accept loop and other clients are not held up) and
//! is safe beside a running import; `hygiene/gc.rs` says why.

use midictl::protocol::Response;

use crate::engine::Engine;
use crate::server::engine_error;

pub fn handle(engine: &Engine, dry_run: bool) -> Response {
    match engine.gc(dry_run) {
        Ok(report) => {
            tracing::info!("gc by request: {}", report.summary());
            Response::Gc { report }
        }
        Err(e) => engine_error(e),
    }
}
