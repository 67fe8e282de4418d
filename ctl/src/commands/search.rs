//! `midictl search [QUERY...] [--limit N] [--json]`: query the catalog; `--json` prints the array
//! of file objects of DESIGN section 6.

use anyhow::Result;
use midictl::progress::printable;
use midictl::protocol::{FileInfo, Request, Response};

use super::{or_dash, request, table, unexpected, Ctx};
use crate::cli::SearchArgs;

/// Enough hex digits to be unique across millions of files (64 bits), and `show` takes a prefix.
const SHORT_HASH: usize = 16;

pub fn run(ctx: &mut Ctx, args: &SearchArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    let req = Request::Search { query: args.query.clone(), limit: args.limit, sort: args.sort.clone() };
    let files = match request(&mut client, &req)? {
        Response::Files { files } => files,
        other => return Err(unexpected("search", &other)),
    };
    if ctx.json {
        return ctx.print_json(&files);
    }
    if files.is_empty() {
        return ctx.print("no matching files");
    }
    ctx.print(&files_table(&files))
}

fn files_table(files: &[FileInfo]) -> String {
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let name =
                f.sources.first().map(|s| s.clean_name.clone().unwrap_or_else(|| s.name.clone())).unwrap_or_default();
            vec![
                f.hash.chars().take(SHORT_HASH).collect(),
                or_dash(f.bpm.map(|b| format!("{b:.1}"))),
                or_dash(f.key.as_deref().map(printable)),
                or_dash(f.time_signature.as_deref().map(printable)),
                or_dash(f.role.as_deref().map(printable)),
                or_dash(f.bars.map(|b| format!("{b:.1}"))),
                or_dash(f.is_loop.map(|l| if l { "loop" } else { "song" })),
                printable(&name).into_owned(),
            ]
        })
        .collect();
    table(&["HASH", "BPM", "KEY", "TIME", "ROLE", "BARS", "LOOP", "NAME"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use midictl::protocol::SourceInfo;

    #[test]
    fn table_shortens_hashes_and_names_files() {
        let file = FileInfo {
            hash: "0123456789abcdef0123456789abcdef".into(),
            size: 1,
            format: 0,
            ppq: None,
            tracks: 1,
            channels: vec![],
            duration_s: 0.0,
            duration_ticks: 0,
            bars: None,
            bpm: Some(128.0),
            bpm_source: None,
            tempo_changes: false,
            key: Some("A minor".into()),
            key_confidence: None,
            time_signature: None,
            has_drums: None,
            drum_parts: None,
            role: Some("bass".into()),
            is_loop: Some(true),
            notes: 0,
            parent: None,
            repairs: vec![],
            sources: vec![SourceInfo {
                path: "/x/b.mid".into(),
                name: "b.mid".into(),
                clean_name: None,
                job: 2,
                tags: vec![],
            }],
            ..FileInfo::default()
        };
        let text = files_table(&[file]);
        let line = text.lines().nth(1).unwrap_or_default();
        assert!(line.starts_with("0123456789abcdef  128.0"), "{text}");
        assert!(line.contains("A minor"), "{text}");
        assert!(line.ends_with("loop  b.mid"), "{text}");
    }
}
