//! `verify`: re-hashes every object against its name and lists catalogued objects that are gone.
//!
//! Reads the whole store, so it can take minutes: it runs on this connection's own thread, with
//! its own catalog connection, and holds neither the catalog writer nor the query
//! connection, so imports, `status` and `search` carry on meanwhile.

use midictl::protocol::Response;

use crate::engine::Engine;
use crate::server::engine_error;

pub fn handle(engine: &Engine) -> Response {
    match engine.verify() {
        Ok(report) => {
            if !report.ok() {
                tracing::warn!("verify: {}", report.summary());
            }
            Response::Verify { report }
        }
        Err(e) => engine_error(e),
    }
}
