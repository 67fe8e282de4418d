//! `midictl status [JOB] [--watch] [--json]`: the daemon and its jobs, or one job; `--watch`
//! follows them live until they have finished.

use std::fmt::Write as _;

use anyhow::Result;
use midictl::progress::{format_duration, job_line, printable, summary_text, Panel};
use midictl::protocol::{DaemonInfo, JobInfo};
use serde::Serialize;

use super::jobs::jobs_table;
use super::{fetch_daemon, fetch_job, fetch_status, watch_all, watch_job, Ctx};
use crate::cli::StatusArgs;

/// `status --json` without a job: the daemon and its jobs in one document.
#[derive(Serialize)]
struct StatusDoc<'a> {
    daemon: &'a DaemonInfo,
    jobs: &'a [JobInfo],
}

pub fn run(ctx: &mut Ctx, args: &StatusArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    match (args.job, args.watch) {
        (Some(id), false) => {
            let job = fetch_job(&mut client, id)?;
            if ctx.json {
                ctx.print_json(&job)
            } else {
                ctx.print(&job_text(&job))
            }
        }
        (Some(id), true) => {
            let daemon = fetch_daemon(&mut client)?;
            let job = fetch_job(&mut client, id)?;
            let mut panel = Panel::new(ctx.json);
            let job = watch_job(&mut client, &mut panel, daemon.as_ref(), job)?;
            drop(panel);
            // Watching is observing: a job that failed is reported, but `status` itself succeeded.
            if ctx.json {
                ctx.print_json(&job)?;
            }
            Ok(())
        }
        (None, false) => {
            let (daemon, jobs) = fetch_status(&mut client)?;
            print_status(ctx, &daemon, &jobs)
        }
        (None, true) => {
            let mut panel = Panel::new(ctx.json);
            let watched = watch_all(&mut client, &mut panel)?;
            drop(panel);
            if !ctx.json && watched.followed_any {
                // Each job's summary is already on screen.
                return Ok(());
            }
            // With nothing running, the plain status view is the useful answer.
            print_status(ctx, &watched.daemon, &watched.jobs)
        }
    }
}

fn print_status(ctx: &mut Ctx, daemon: &DaemonInfo, jobs: &[JobInfo]) -> Result<()> {
    if ctx.json {
        ctx.print_json(&StatusDoc { daemon, jobs })
    } else {
        ctx.print(&daemon_text(daemon, jobs))
    }
}

fn job_text(job: &JobInfo) -> String {
    if job.state.is_final() {
        return summary_text(job);
    }
    let mut out = job_line(job);
    for path in &job.paths {
        let _ = write!(out, "\n  {}", printable(path));
    }
    out
}

fn daemon_text(d: &DaemonInfo, jobs: &[JobInfo]) -> String {
    let mut out = format!("midid {} (pid {}), up {}\n", printable(&d.version), d.pid, format_duration(d.uptime_s));
    let _ = writeln!(out, "  shards    {}", d.shards);
    let _ = write!(out, "  io        {}", printable(&d.io_driver));
    if let Some(reason) = &d.io_fallback_reason {
        let _ = write!(out, " (fallback: {})", printable(reason));
    }
    out.push('\n');
    let _ = writeln!(out, "  data dir  {}", printable(&d.data_dir));
    let _ = writeln!(out, "  database  {}", printable(&d.database));
    let _ = write!(out, "  catalog   {} files", d.catalog_files);
    if jobs.is_empty() {
        out.push_str("\n\nno jobs");
    } else {
        out.push_str("\n\n");
        out.push_str(&jobs_table(jobs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_text_names_the_io_fallback() {
        let d = DaemonInfo {
            version: "0.1.0".into(),
            pid: 42,
            shards: 2,
            io_driver: "epoll".into(),
            io_fallback_reason: Some("io_uring_setup: EPERM (seccomp)".into()),
            data_dir: "/var/lib/midid".into(),
            database: "embedded".into(),
            uptime_s: 65.0,
            catalog_files: 10,
        };
        let text = daemon_text(&d, &[]);
        assert!(text.starts_with("midid 0.1.0 (pid 42), up 1m05s\n"), "{text}");
        assert!(text.contains("io        epoll (fallback: io_uring_setup: EPERM (seccomp))"), "{text}");
        assert!(text.ends_with("no jobs"), "{text}");
    }
}
