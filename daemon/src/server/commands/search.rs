//! `search`: every catalogued file, in import order, up to a limit. The query language arrives
//! with a later issue; until then a non-empty query is refused rather than silently ignored.

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::error;

const DEFAULT_LIMIT: u64 = 100;
/// Keeps the reply under the protocol's frame limit (about 600 bytes per file with one source).
const MAX_LIMIT: u64 = 20_000;

pub fn handle(engine: &Engine, query: &[String], limit: Option<u64>) -> Response {
    if !query.is_empty() {
        return error(ErrorKind::BadRequest, "search queries are not supported yet; run search without a query");
    }
    match engine.reader().search(limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)) {
        Ok(files) => Response::Files { files },
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
