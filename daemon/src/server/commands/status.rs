//! `status`: one job, or the daemon and its recent jobs.

use midictl::protocol::Response;

use crate::engine::Engine;
use crate::server::engine_error;

pub fn handle(engine: &Engine, job: Option<u64>) -> Response {
    let jobs = match job {
        Some(id) => engine.job_info(id).map(|j| vec![j]),
        None => engine.jobs(20),
    };
    match jobs {
        Ok(jobs) => Response::Status { daemon: engine.daemon_info(), jobs },
        Err(e) => engine_error(e),
    }
}
