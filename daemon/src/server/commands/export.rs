//! `export`: the selected files onto a drive in the device's formats, as a job with progress;
//! with `dry_run`, only the plan (what would be written where), computed on this connection's
//! thread.

use std::sync::atomic::{AtomicBool, Ordering};

use midictl::protocol::{ErrorKind, Response};

use crate::engine::Engine;
use crate::server::{engine_error, error};

/// The request's fields, as the client sent them.
pub struct Fields {
    pub target: String,
    pub to: String,
    pub query: Vec<String>,
    pub rename: bool,
    pub template: Option<String>,
    pub dry_run: bool,
}

pub fn handle(engine: &Engine, f: Fields, stopping: &AtomicBool) -> Response {
    if stopping.load(Ordering::SeqCst) {
        return error(ErrorKind::ShuttingDown, "the daemon is shutting down");
    }
    let req = match engine.export_request(&f.target, &f.to, &f.query, f.rename, f.template.as_deref()) {
        Ok(r) => r,
        Err(e) => return engine_error(e),
    };
    if f.dry_run {
        return match engine.export_plan(&req) {
            Ok(plan) => Response::ExportPlan { plan },
            Err(e) => engine_error(e),
        };
    }
    match engine.export(req) {
        Ok(job) => Response::Job { job: job.info() },
        Err(e) => engine_error(e),
    }
}
