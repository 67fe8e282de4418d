//! `search`: the files a query selects (`catalog/lang.rs`), up to a limit, in catalog order or by
//! `--sort`. A term the language does not know is refused, never silently ignored.

use midictl::protocol::{ErrorKind, Response};

use crate::catalog::lang::Query;
use crate::engine::Engine;
use crate::server::error;

const DEFAULT_LIMIT: u64 = 100;
/// Keeps the reply under the protocol's frame limit (about 600 bytes per file with one source).
const MAX_LIMIT: u64 = 20_000;

pub fn handle(engine: &Engine, query: &[String], sort: Option<&str>, limit: Option<u64>) -> Response {
    let query = match Query::parse(query, sort) {
        Ok(q) => q,
        Err(e) => return error(ErrorKind::BadRequest, e.to_string()),
    };
    match engine.reader().search(&query, limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)) {
        Ok(files) => Response::Files { files },
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
