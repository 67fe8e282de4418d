//! `rejects`: files that could not be used, with their reason codes.

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::error;

/// Default page when the client names no limit; keeps a reply far under the frame limit.
const DEFAULT_LIMIT: u64 = 1000;

pub fn handle(engine: &Engine, job: Option<u64>, limit: Option<u64>) -> Response {
    match engine.reader().rejects(job, limit.unwrap_or(DEFAULT_LIMIT).min(50_000)) {
        Ok(rejects) => Response::Rejects { rejects },
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
