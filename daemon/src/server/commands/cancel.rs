//! `cancel`: stop a running job; what it already committed stays.

use midictl::protocol::Response;

use crate::engine::Engine;
use crate::server::engine_error;

pub fn handle(engine: &Engine, job: u64) -> Response {
    match engine.cancel(job) {
        Ok(job) => Response::Job { job },
        Err(e) => engine_error(e),
    }
}
