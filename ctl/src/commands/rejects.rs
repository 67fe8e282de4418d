//! `midictl rejects [--job N] [--limit N] [--json]`: files that could not be used, and why, so a
//! producer can see what was lost instead of trusting a count.

use anyhow::Result;
use midictl::progress::printable;
use midictl::protocol::{Request, Response};

use super::{request, table, unexpected, Ctx};
use crate::cli::RejectsArgs;

pub fn run(ctx: &mut Ctx, args: &RejectsArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    let req = Request::Rejects { job: args.job, limit: args.limit };
    let rejects = match request(&mut client, &req)? {
        Response::Rejects { rejects } => rejects,
        other => return Err(unexpected("rejects", &other)),
    };
    if ctx.json {
        return ctx.print_json(&rejects);
    }
    if rejects.is_empty() {
        return ctx.print("no rejects");
    }
    // Paths and details come from archive entry names: escaped before they reach a terminal.
    let rows: Vec<Vec<String>> = rejects
        .iter()
        .map(|r| {
            vec![
                r.job.to_string(),
                printable(&r.reason).into_owned(),
                printable(&r.path).into_owned(),
                printable(&r.detail).into_owned(),
            ]
        })
        .collect();
    ctx.print(&table(&["JOB", "REASON", "PATH", "DETAIL"], &rows))
}
