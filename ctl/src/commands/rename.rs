//! `midictl rename TEMPLATE [--limit N] [--json]`: the dry-run listing of a rename template, old
//! name and new path side by side. Nothing is renamed; exports with `--rename` use the template.

use anyhow::Result;
use midictl::progress::printable;
use midictl::protocol::{Request, Response};

use super::{request, table, unexpected, Ctx};
use crate::cli::RenameArgs;

pub fn run(ctx: &mut Ctx, args: &RenameArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    let req = Request::Rename { template: args.template.clone(), limit: args.limit };
    let renames = match request(&mut client, &req)? {
        Response::Renames { renames } => renames,
        other => return Err(unexpected("rename", &other)),
    };
    if ctx.json {
        return ctx.print_json(&renames);
    }
    if renames.is_empty() {
        return ctx.print("no files");
    }
    let rows: Vec<Vec<String>> = renames
        .iter()
        .map(|r| {
            vec![r.hash.chars().take(16).collect(), printable(&r.old).into_owned(), printable(&r.new).into_owned()]
        })
        .collect();
    ctx.print(&table(&["HASH", "NAME", "RENAMED"], &rows))
}
