//! `midictl jobs [--json]`: every job the daemon knows, newest first.

use anyhow::Result;
use midictl::progress::{format_duration, format_rate, printable};
use midictl::protocol::{JobInfo, Request, Response};

use super::{request, table, unexpected, Ctx};

pub fn run(ctx: &mut Ctx) -> Result<()> {
    let mut client = ctx.connect()?;
    let jobs = match request(&mut client, &Request::Jobs)? {
        Response::Jobs { jobs } => jobs,
        other => return Err(unexpected("jobs", &other)),
    };
    if ctx.json {
        return ctx.print_json(&jobs);
    }
    if jobs.is_empty() {
        return ctx.print("no jobs");
    }
    ctx.print(&jobs_table(&jobs))
}

/// Shared with `status`, which lists the same jobs under the daemon's details.
pub fn jobs_table(jobs: &[JobInfo]) -> String {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let c = &j.counts;
            let mut paths = j.paths.first().map(|p| printable(p).into_owned()).unwrap_or_default();
            if j.paths.len() > 1 {
                paths.push_str(&format!(" (+{} more)", j.paths.len() - 1));
            }
            vec![
                j.id.to_string(),
                printable(&j.kind).into_owned(),
                j.state.as_str().to_string(),
                c.discovered.to_string(),
                c.imported.to_string(),
                c.duplicates.to_string(),
                c.rejected.to_string(),
                format_duration(j.elapsed_s),
                format_rate(j.files_per_s),
                paths,
            ]
        })
        .collect();
    table(&["ID", "KIND", "STATE", "FILES", "IMPORTED", "DUPLICATES", "REJECTED", "ELAPSED", "FILES/S", "PATHS"], &rows)
}
