//! `search`: every catalogued file, in import order, up to a limit. The query language arrives
//! with a later issue; until then the one term understood is `dupes:hide` (one file per tier-1
//! duplicate group: the first imported), and any other is refused rather than silently ignored.

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::error;

const DEFAULT_LIMIT: u64 = 100;
/// Keeps the reply under the protocol's frame limit (about 600 bytes per file with one source).
const MAX_LIMIT: u64 = 20_000;

pub fn handle(engine: &Engine, query: &[String], limit: Option<u64>) -> Response {
    let mut hide_dupes = false;
    for term in query {
        match term.as_str() {
            "dupes:hide" => hide_dupes = true,
            "dupes:show" => hide_dupes = false,
            other => {
                return error(
                    ErrorKind::BadRequest,
                    format!("search term {other:?} is not supported yet (only dupes:hide); run search without it"),
                )
            }
        }
    }
    match engine.reader().search(limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT), hide_dupes) {
        Ok(files) => Response::Files { files },
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
