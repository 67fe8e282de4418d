//! `midictl export --target mpc|force|both --to DIR [QUERY...] [--rename[=TEMPLATE]] [--dry-run]
//! [--wait] [--json]`: start an export job and print its id; `--wait` follows it to the end (exit
//! 1 unless it finished `done`); `--dry-run` prints the plan and writes nothing.

use anyhow::{Context, Result};
use midictl::progress::printable;
use midictl::protocol::{ExportPlan, Request, Response};

use super::{request, started_job, table, unexpected, Ctx};
use crate::cli::{CliError, ExportArgs};

pub fn run(ctx: &mut Ctx, args: &ExportArgs) -> Result<()> {
    let to = std::path::absolute(&args.to).with_context(|| format!("cannot resolve {}", args.to.display()))?;
    let to = to
        .into_os_string()
        .into_string()
        .map_err(|_| CliError::Usage("--to must be valid UTF-8 to be sent to the daemon".into()))?;
    let (rename, template) = match args.rename.as_deref() {
        None => (false, None),
        Some("") => (true, None),
        Some(t) => (true, Some(t.to_string())),
    };
    let req = Request::Export {
        target: args.target.clone(),
        to,
        query: args.query.clone(),
        rename,
        template,
        dry_run: args.dry_run,
    };
    let mut client = ctx.connect()?;
    // A plan of a large library reads every row: no reply deadline.
    client.set_read_timeout(None);
    let job = match request(&mut client, &req)? {
        Response::ExportPlan { plan } => {
            return if ctx.json { ctx.print_json(&plan) } else { ctx.print(&plan_text(&plan)) };
        }
        Response::Job { job } => job,
        other => return Err(unexpected("export", &other)),
    };
    started_job(ctx, &mut client, job, args.wait)
}

fn plan_text(p: &ExportPlan) -> String {
    let rows: Vec<Vec<String>> =
        p.folders.iter().map(|(f, n)| vec![n.to_string(), printable(f).into_owned()]).collect();
    let mut out = table(&["files", "folder"], &rows);
    out.push_str(&format!(
        "\nplan for {} ({}): {} files, {} to write ({} patterns, {} progressions, {} .mid only), {} unchanged; nothing written",
        printable(&p.to),
        p.target,
        p.files,
        p.to_write,
        p.patterns,
        p.progressions,
        p.copy_only,
        p.unchanged
    ));
    out
}
