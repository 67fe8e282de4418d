//! `show`: one file by hash or unique hash prefix.

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::error;

pub fn handle(engine: &Engine, hash: &str) -> Response {
    match engine.reader().show(hash) {
        Ok(Some(file)) => Response::File { file: Box::new(file) },
        Ok(None) => error(ErrorKind::NotFound, format!("no file (or more than one) matches hash {hash}")),
        Err(e) => error(ErrorKind::Failed, e.to_string()),
    }
}
