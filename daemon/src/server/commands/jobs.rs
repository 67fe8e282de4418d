//! `jobs`: every job, newest first.

use midictl::protocol::Response;

use crate::engine::Engine;
use crate::server::engine_error;

pub fn handle(engine: &Engine) -> Response {
    match engine.jobs(10_000) {
        Ok(jobs) => Response::Jobs { jobs },
        Err(e) => engine_error(e),
    }
}
