//! The query language end to end: every field, ranges, negation, sorting and `dupes:hide` through
//! the real `midictl search` on a generated library, each answer held to the language's reference
//! evaluator (`Query::matches`) run over the whole catalog, so the SQL and the definition agree.

use midictl::protocol::FileInfo;
use midid::catalog::lang::Query;
use midid::gen::{generate, GenSpec};

use crate::harness::{path_str, Dir};

/// One query per field and form, and a few combinations: the language's test set, also run on
/// both stores by `postgres.rs`.
pub const QUERIES: &[&[&str]] = &[
    &["key:Am"],
    &["key:F# minor"],
    &["key:C"],
    &["-key:Am"],
    &["bpm:120..128"],
    &["bpm:>140"],
    &["bpm:<=90"],
    &["bpm:140"],
    &["bars:4"],
    &["bars:2..8"],
    &["role:bass"],
    &["role:drums", "drum:kick"],
    &["drum:hat"],
    &["-drum:kick", "role:drums"],
    &["tag:trap"],
    &["tag:140bpm"],
    &["name:kick"],
    &["name:Bass", "-role:bass"],
    &["loop:yes"],
    &["loop:no"],
    &["key:Am", "bpm:80..100", "loop:yes"],
    &["dupes:hide", "role:chords"],
];

fn hashes(files: &[FileInfo]) -> Vec<String> {
    files.iter().map(|f| f.hash.clone()).collect()
}

#[test]
fn every_query_returns_what_the_reference_evaluator_selects() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: 400, duplicate_share: 0.2, damaged_share: 0.0, seed: 11 }).unwrap();
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let all: Vec<FileInfo> = serde_json::from_value(dir.ctl_json(&["search", "--limit", "20000", "--json"])).unwrap();
    assert!(all.len() > 300);

    let queries = QUERIES;
    let mut nonempty = 0;
    for q in queries {
        let terms: Vec<String> = q.iter().map(|s| s.to_string()).collect();
        let query = Query::parse(&terms, None).unwrap();
        let mut args = vec!["search"];
        args.extend(q.iter().copied());
        args.extend(["--limit", "20000", "--json"]);
        let got: Vec<FileInfo> = serde_json::from_value(dir.ctl_json(&args)).unwrap();
        let want: Vec<FileInfo> = if query.hide_dupes {
            // The reference for dupes:hide is the catalog's own one-per-group list, filtered.
            let hidden: Vec<FileInfo> =
                serde_json::from_value(dir.ctl_json(&["search", "dupes:hide", "--limit", "20000", "--json"])).unwrap();
            hidden.into_iter().filter(|f| query.matches(f)).collect()
        } else {
            all.iter().filter(|f| query.matches(f)).cloned().collect()
        };
        assert_eq!(hashes(&got), hashes(&want), "query {q:?}");
        nonempty += usize::from(!got.is_empty());
    }
    assert!(nonempty >= queries.len() - 3, "most queries must select something to mean anything ({nonempty})");

    // Sorted: by BPM descending, files without a BPM last.
    let sorted: Vec<FileInfo> =
        serde_json::from_value(dir.ctl_json(&["search", "role:bass", "--sort", "-bpm", "--limit", "20000", "--json"]))
            .unwrap();
    let bpms: Vec<f64> = sorted.iter().filter_map(|f| f.bpm).collect();
    assert!(bpms.windows(2).all(|w| w[0] >= w[1]), "{bpms:?}");
    assert!(sorted.len() > 5);
    let bad = dir.ctl(&["search", "bpm:fast"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bpm:fast"));
}
