//! The analysis as users see it: `search --json` and `show --json` carry each file's tempo, key,
//! meter, drums, role and loop facts under the names of DESIGN section 6, for files whose truth is
//! known by construction.

use midid::gen::labelled_midi;
use serde_json::Value;

use crate::harness::{path_str, Dir};

#[test]
fn search_json_carries_the_analysis_under_the_contract_names() {
    let mut dir = Dir::new();
    let corpus = dir.path("packs");
    // (kind index, seed): two of each kind; names carry pack, genre and role words.
    let mut truths = Vec::new();
    for kind in 0..5 {
        for seed in [7u64, 8] {
            let (bytes, truth) = labelled_midi(kind, seed);
            let name = format!("Trap Pack/{} {seed}.mid", truth.kind);
            dir.write(&format!("packs/{name}"), &bytes);
            truths.push((midid::dedupe::to_hex(&midid::dedupe::content_id(&bytes)), truth));
        }
    }
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["analyzed"], 10);

    let found = dir.ctl_json(&["search", "--json"]);
    let all = found.as_array().expect("an array of files");
    // The songs' parts are files too, each naming its parent.
    let (files, parts): (Vec<Value>, Vec<Value>) = all.iter().cloned().partition(|f| f["parent"].is_null());
    assert_eq!(files.len(), 10);
    let songs: Vec<&str> = truths.iter().filter(|(_, t)| t.kind == "song").map(|(h, _)| h.as_str()).collect();
    assert!(!parts.is_empty(), "the songs are split");
    for p in &parts {
        assert!(songs.contains(&p["parent"].as_str().unwrap_or_default()), "a part of a song: {p:#}");
        let name = p["sources"][0]["name"].as_str().unwrap_or_default();
        assert!(name.starts_with("song_") && name.contains("__0"), "part name {name}");
    }
    for (hash, truth) in &truths {
        let f = files.iter().find(|f| f["hash"] == *hash.as_str()).unwrap_or_else(|| panic!("{hash} missing"));
        let what = format!("{} {hash}", truth.kind);
        // The contract's names and types.
        for name in ["hash", "size", "format", "ppq", "tracks", "duration_s", "bars", "bpm", "bpm_source", "key"] {
            assert!(f.get(name).is_some(), "{what}: no `{name}`");
        }
        for name in ["key_confidence", "time_signature", "has_drums", "drum_parts", "role", "loop", "notes", "parent"] {
            assert!(f.get(name).is_some(), "{what}: no `{name}`");
        }
        let bpm = f["bpm"].as_f64().unwrap_or_default();
        assert!((bpm - f64::from(truth.bpm)).abs() < 0.5, "{what}: bpm {bpm} vs {}", truth.bpm);
        assert_eq!(f["bpm_source"], "meta", "{what}");
        let ts = format!("{}/{}", truth.time_signature.0, truth.time_signature.1);
        assert_eq!(f["time_signature"], *ts.as_str(), "{what}");
        let drums = matches!(truth.kind, "drums" | "song");
        assert_eq!(f["has_drums"], drums, "{what}");
        let bars = f["bars"].as_f64().unwrap_or_default();
        assert!(bars >= f64::from(truth.bars) - 0.01, "{what}: bars {bars} vs {}", truth.bars);
        assert_eq!(f["parent"], Value::Null, "{what}");
        // A key, with its parts agreeing with its name; drums alone have no key to tell.
        if truth.kind == "drums" {
            assert_eq!(f["key"], Value::Null, "{what}");
            assert_eq!(f["key_confidence"], Value::Null, "{what}");
        } else {
            let key = f["key"].as_str().unwrap_or_else(|| panic!("{what}: no key: {f:#}"));
            let mode = f["key_mode"].as_str().unwrap_or_default();
            assert!(key.ends_with(mode) && !mode.is_empty(), "{what}: {key} / {mode}");
            assert!(f["key_tonic"].as_u64().is_some_and(|t| t < 12), "{what}");
            let conf = f["key_confidence"].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&conf), "{what}: key confidence {conf}");
        }
        match truth.kind {
            "drums" => {
                assert_eq!(f["role"], "drums", "{what}");
                let parts: Vec<&str> =
                    f["drum_parts"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                assert!(parts.contains(&"kick"), "{what}: drum parts {parts:?}");
                assert_eq!(f["drum_dominant"], *parts[0], "{what}: the first part is the dominant one");
                let track_parts = f["parts"].as_array().cloned().unwrap_or_default();
                assert!(
                    track_parts.iter().any(|p| p["drums"] == true && p["drum_dominant"].is_string()),
                    "{what}: per-part drums {track_parts:?}"
                );
            }
            "song" => assert_eq!(f["role"], "full", "{what}"),
            "chords" => {
                assert_eq!(f["role"], "chords", "{what}");
                assert!(f["chords"].as_array().is_some_and(|c| !c.is_empty()), "{what}: no chords");
            }
            _ => assert!(f["role"].is_string(), "{what}"),
        }
        assert!(f["loop"].is_boolean(), "{what}");
        assert!(f["fingerprint"].as_str().is_some_and(|h| h.len() == 32), "{what}");
        assert!(f["parts"].as_array().is_some_and(|p| !p.is_empty()), "{what}: no parts");
        let tags: Vec<&str> =
            f["sources"][0]["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        assert!(tags.contains(&"trap"), "{what}: tags {tags:?}");
        let source = &f["sources"][0];
        let name = source["name"].as_str().unwrap_or_default();
        assert_eq!(source["clean_name"], *name.replace(' ', "_").as_str(), "{what}: clean name");
    }

    // `show` gives the same object.
    let (hash, _) = &truths[0];
    let shown = dir.ctl_json(&["show", hash, "--json"]);
    let listed = files.iter().find(|f| f["hash"] == *hash.as_str()).cloned().unwrap_or_default();
    assert_eq!(shown, listed);
}
