//! `import`: start a job over absolute paths.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::{engine_error, error};

pub fn handle(engine: &Engine, paths: Vec<String>, stopping: &AtomicBool) -> Response {
    if stopping.load(Ordering::SeqCst) {
        return error(ErrorKind::ShuttingDown, "the daemon is shutting down");
    }
    if paths.is_empty() {
        return error(ErrorKind::BadRequest, "import needs at least one path");
    }
    if let Some(rel) = paths.iter().find(|p| !p.starts_with('/')) {
        return error(ErrorKind::BadRequest, format!("path must be absolute: {rel}"));
    }
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    match engine.import(&paths) {
        Ok(job) => Response::Job { job: job.info() },
        Err(e) => engine_error(e),
    }
}
