//! `midictl cancel JOB [--json]`: stop a queued or running job; what it already catalogued stays.

use anyhow::Result;
use midictl::protocol::{JobState, Request, Response};

use super::{request, unexpected, Ctx};
use crate::cli::CancelArgs;

pub fn run(ctx: &mut Ctx, args: &CancelArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    match request(&mut client, &Request::Cancel { job: args.job })? {
        Response::Job { job } => {
            if ctx.json {
                return ctx.print_json(&job);
            }
            let text = match job.state {
                JobState::Cancelled => format!("job {} cancelled", job.id),
                // Cancelling a finished job is not an error: the caller wanted it not running.
                state if state.is_final() => format!("job {} already {}", job.id, state.as_str()),
                state => format!("job {} is being cancelled ({})", job.id, state.as_str()),
            };
            ctx.print(&text)
        }
        Response::Ok { message } => ok_message(ctx, &message),
        other => Err(unexpected("cancel", &other)),
    }
}

/// The JSON and human forms of a bare `Response::Ok`, shared with `shutdown`.
pub fn ok_message(ctx: &mut Ctx, message: &str) -> Result<()> {
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "ok": true, "message": message }))
    } else {
        ctx.print(&midictl::progress::printable(message))
    }
}
