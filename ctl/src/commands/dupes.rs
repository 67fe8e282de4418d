//! `midictl dupes [--tier N] [--limit N] [--json]`: the same music found more than once, by
//! tier, with every place each copy was found. Nothing is deleted: the groups are links.

use std::fmt::Write as _;

use anyhow::Result;
use midictl::progress::printable;
use midictl::protocol::{DupeGroup, Request, Response};

use super::{request, unexpected, Ctx};
use crate::cli::DupesArgs;

pub fn run(ctx: &mut Ctx, args: &DupesArgs) -> Result<()> {
    let mut client = ctx.connect()?;
    let req = Request::Dupes { tier: args.tier, limit: args.limit };
    let groups = match request(&mut client, &req)? {
        Response::Dupes { groups } => groups,
        other => return Err(unexpected("dupes", &other)),
    };
    if ctx.json {
        return ctx.print_json(&groups);
    }
    if groups.is_empty() {
        return ctx.print("no duplicates");
    }
    ctx.print(&groups_text(&groups))
}

const TIER_NAMES: [&str; 4] = ["same bytes", "same notes", "same notes in parts", "variants"];

fn groups_text(groups: &[DupeGroup]) -> String {
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let what = TIER_NAMES.get(usize::from(g.tier)).copied().unwrap_or("?");
        let _ = writeln!(out, "tier {} ({what}), {} files, {}", g.tier, g.count, &g.key[..g.key.len().min(16)]);
        for f in &g.files {
            let part = if f.parent.is_some() { " (part)" } else { "" };
            for s in &f.sources {
                let _ = writeln!(out, "  {}{part}  {}", &f.hash[..f.hash.len().min(16)], printable(&s.path));
            }
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use midictl::protocol::{DupeMember, SourceInfo};

    #[test]
    fn groups_list_every_source_and_mark_parts() {
        let src = |p: &str| SourceInfo { path: p.into(), name: "x".into(), ..SourceInfo::default() };
        let g = DupeGroup {
            tier: 2,
            key: "ab".repeat(16),
            count: 2,
            files: vec![
                DupeMember { hash: "11".repeat(16), sources: vec![src("/a/Loop.mid")], ..DupeMember::default() },
                DupeMember {
                    hash: "22".repeat(16),
                    parent: Some("33".repeat(16)),
                    sources: vec![src("/b/Song.mid#Song__02_Bass.mid")],
                    ..DupeMember::default()
                },
            ],
        };
        let text = groups_text(&[g]);
        assert!(text.starts_with("tier 2 (same notes in parts), 2 files, abababab"), "{text}");
        assert!(text.contains("1111111111111111  /a/Loop.mid"), "{text}");
        assert!(text.contains("2222222222222222 (part)  /b/Song.mid#Song__02_Bass.mid"), "{text}");
    }
}
