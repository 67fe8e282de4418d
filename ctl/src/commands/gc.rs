//! `midictl gc [--dry-run] [--json]`: removes stored objects no catalogued file names (left by a
//! crash, a failed batch or a cancelled job) and stale temp files; `--dry-run` lists them instead.
//! Safe while an import runs (the daemon's `hygiene/gc.rs` says why). Exits 1 when some file
//! could not be examined or removed.

use anyhow::Result;
use midictl::progress::printable;
use midictl::protocol::{GcReport, Request, Response};

use super::{request, unexpected, Ctx};
use crate::cli::{CliError, GcArgs};

pub fn run(ctx: &mut Ctx, args: &GcArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    // The scan grows with the store: no reply deadline (a daemon that dies still ends the wait).
    client.set_read_timeout(None);
    let report = match request(&mut client, &Request::Gc { dry_run: args.dry_run })? {
        Response::Gc { report } => report,
        other => return Err(unexpected("gc", &other)),
    };
    if ctx.json {
        ctx.print_json(&report)?;
    } else {
        ctx.print(&report_text(&report))?;
    }
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Found(format!("gc: {} files could not be examined or removed", report.errors.len())).into())
    }
}

fn report_text(r: &GcReport) -> String {
    let mut lines: Vec<String> = Vec::new();
    // A dry run is asked for its list; a real run's list is in `--json` and the daemon's log.
    if r.dry_run {
        lines.extend(r.paths.iter().map(|p| format!("would remove {}", printable(p))));
    }
    lines.extend(r.errors.iter().map(|e| format!("error: {}", printable(e))));
    lines.push(r.summary());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_lists_then_summarises() {
        let r = GcReport {
            dry_run: true,
            scanned: 3,
            referenced: 2,
            removed: 1,
            bytes_freed: 2048,
            grace_s: 3600,
            paths: vec!["/d/objects/ab/ab.mid".into()],
            ..GcReport::default()
        };
        let text = report_text(&r);
        assert_eq!(
            text,
            "would remove /d/objects/ab/ab.mid\nscanned 3 objects: would remove 1 and 0 temp files (2.0 KiB); \
             kept 2 referenced, 0 pending, 0 newer than 3600s"
        );
        let done = GcReport { dry_run: false, ..r };
        assert!(report_text(&done).starts_with("scanned 3 objects: removed 1"), "{}", report_text(&done));
    }
}
