//! The library as users see it: duplicates by their music (`midictl dupes`) on files planted to
//! be duplicates of each tier and near misses planted to be none; `search dupes:hide`.

use std::collections::BTreeSet;

use midid::gen::dupes::plant;
use serde_json::Value;

use crate::harness::{age, path_str, Dir, OLD};

/// A group's members as relative paths; a part stands for its song (its path before `#`).
fn member_paths(group: &Value, root: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in group["files"].as_array().into_iter().flatten() {
        for s in f["sources"].as_array().into_iter().flatten() {
            let path = s["path"].as_str().unwrap_or_default();
            let path = path.split('#').next().unwrap_or(path);
            out.insert(path.strip_prefix(root).unwrap_or(path).trim_start_matches('/').to_string());
        }
    }
    out
}

#[test]
fn dupes_finds_every_planted_group_and_no_false_one() {
    let mut dir = Dir::new();
    let root = dir.path("planted");
    let planted = plant(&root, 11, 4).expect("planting");
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&root), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["discovered"], planted.files as u64);
    assert_eq!(job["counts"]["rejected"], 0, "{job:#}");

    let groups = dir.ctl_json(&["dupes", "--limit", "1000", "--json"]);
    let groups = groups.as_array().expect("an array of groups");
    let root = path_str(&root);
    let found: Vec<(u64, BTreeSet<String>)> =
        groups.iter().map(|g| (g["tier"].as_u64().unwrap_or(9), member_paths(g, root))).collect();
    for p in &planted.groups {
        let want: BTreeSet<String> = p.paths.iter().map(|r| r.to_string_lossy().into_owned()).collect();
        assert!(
            found.contains(&(u64::from(p.tier), want.clone())),
            "planted tier {} group ({}) not found: {want:?}\nfound: {found:#?}",
            p.tier,
            p.what
        );
    }
    for tier in 0..=3u64 {
        let planted_n = planted.groups.iter().filter(|p| u64::from(p.tier) == tier).count();
        let found_n = found.iter().filter(|(t, _)| *t == tier).count();
        assert_eq!(found_n, planted_n, "tier {tier}: a group nobody planted: {found:#?}");
    }
    for near in &planted.near_misses {
        let near = near.to_string_lossy();
        assert!(!found.iter().any(|(_, paths)| paths.contains(near.as_ref())), "near miss {near} grouped");
    }
    // One tier asked for, one tier answered.
    let t3 = dir.ctl_json(&["dupes", "--tier", "3", "--json"]);
    assert!(t3.as_array().is_some_and(|g| !g.is_empty() && g.iter().all(|g| g["tier"] == 3)), "{t3:#}");

    // search dupes:hide keeps one file of each tier-1 group.
    let all = dir.ctl_json(&["search", "--limit", "10000", "--json"]);
    let hidden = dir.ctl_json(&["search", "dupes:hide", "--limit", "10000", "--json"]);
    let (all, hidden) = (all.as_array().map_or(0, Vec::len), hidden.as_array().map_or(0, Vec::len));
    // Per set: the re-packaged lead, and the loop's two parts inside the songs.
    assert_eq!(all - hidden, 3 * 4, "all {all}, without duplicates {hidden}");
    // Parts have no objects of their own: gc removes nothing (every object aged past its grace
    // period, so only the catalog keeps them), verify misses nothing.
    let objects = object_files(&dir);
    for hex in &objects {
        age(&dir.object_path(hex), OLD);
    }
    let gc = dir.ctl_json(&["gc", "--json"]);
    assert_eq!(gc["removed"], 0, "{gc:#}");
    assert_eq!(gc["referenced"], objects.len() as u64, "every object is a row's: {gc:#}");
    assert_eq!(object_files(&dir), objects, "gc kept every object");
    let verify = dir.ctl(&["verify", "--json"]);
    assert_eq!(verify.status.code(), Some(0), "{}", String::from_utf8_lossy(&verify.stdout));
    let refused = dir.ctl(&["search", "colour:red"]);
    assert_eq!(refused.status.code(), Some(1), "unknown fields are refused, not ignored");
}

/// `--fingerprints false`: the same planted corpus yields exact-copy groups only, and the rows
/// carry no fingerprint (the benchmark's "without" side; a user's faster import).
#[test]
fn without_fingerprints_only_exact_copies_are_grouped() {
    let mut dir = Dir::new();
    let root = dir.path("planted");
    let planted = plant(&root, 11, 2).expect("planting");
    dir.start_with(&["--fingerprints", "false"]);
    let job = dir.ctl_json(&["import", path_str(&root), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["discovered"], planted.files as u64);
    let groups = dir.ctl_json(&["dupes", "--limit", "1000", "--json"]);
    let tiers: BTreeSet<u64> = groups.as_array().into_iter().flatten().filter_map(|g| g["tier"].as_u64()).collect();
    assert!(planted.groups.iter().any(|p| p.tier == 0), "the corpus has exact copies");
    assert_eq!(tiers, BTreeSet::from([0]), "{groups:#}");
    let db = dir.catalog();
    assert_eq!(crate::harness::count(&db, "SELECT COUNT(*) FROM files WHERE fingerprint IS NOT NULL"), 0);
    assert!(crate::harness::count(&db, "SELECT COUNT(*) FROM files WHERE key IS NOT NULL") > 0, "analysis ran");
}

#[test]
fn rename_lists_template_names_and_refuses_unknown_fields() {
    let mut dir = Dir::new();
    let root = dir.path("planted");
    plant(&root, 5, 1).expect("planting");
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&root), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let listed = dir.ctl_json(&["rename", "{role|norole}/{key_short|nokey}/{bpm}bpm_{name}", "--json"]);
    let listed = listed.as_array().expect("an array");
    assert!(!listed.is_empty());
    for r in listed {
        let new = r["new"].as_str().unwrap_or_default();
        let comps: Vec<&str> = new.split('/').collect();
        assert_eq!(comps.len(), 3, "{r}");
        assert!(comps[2].ends_with(".mid") && !new.contains(' '), "{r}");
    }
    // The lead and its byte copy are one content: named after whichever source came first. Its
    // lone 120 BPM event stands (regression: the onsets of a quantized melody once read as 96).
    let lead =
        listed.iter().find(|r| r["old"] == "Lead_A.mid" || r["old"] == "Renamed_Lead.mid").expect("the lead is listed");
    let want = format!("/120bpm_{}", lead["old"].as_str().unwrap_or_default());
    assert!(lead["new"].as_str().is_some_and(|n| n.ends_with(&want)), "{lead}");
    let bad = dir.ctl(&["rename", "{colour}/{name}"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown field {colour}"), "{bad:?}");
}

/// A loose file with the bytes of a song's part (an exported part imported back) is a whole
/// file even though the part's row came first (the song is imported in an earlier job).
#[test]
fn a_loose_copy_of_a_part_makes_its_content_a_whole_file() {
    let mut dir = Dir::new();
    let song = midid::gen::midi_bytes(4, 77);
    let parts = midid::library::split::split(&song);
    assert!(parts.len() >= 2, "a generated song has parts");
    dir.write("songs/Song.mid", &song);
    dir.write("loose/Bass.mid", &parts[0].bytes);
    dir.start();
    for folder in ["songs", "loose"] {
        let job = dir.ctl_json(&["import", path_str(&dir.path(folder)), "--wait", "--json"]);
        assert_eq!(job["state"], "done", "{job:#}");
    }
    let hash = midid::dedupe::to_hex(&midid::dedupe::content_id(&parts[0].bytes));
    let shown = dir.ctl_json(&["show", &hash, "--json"]);
    assert_eq!(shown["parent"], Value::Null, "{shown:#}");
    let paths: Vec<&str> =
        shown["sources"].as_array().into_iter().flatten().filter_map(|s| s["path"].as_str()).collect();
    assert_eq!(paths.len(), 2, "found loose and inside the song: {paths:?}");
    // A whole file's object must exist, though the part's row came without one.
    assert!(object_files(&dir).contains(&hash), "the loose copy's object was written");
    let verify = dir.ctl(&["verify", "--json"]);
    assert_eq!(verify.status.code(), Some(0), "{}", String::from_utf8_lossy(&verify.stdout));
}

/// The same, in flight together: loose copies of parts read while their song's split is still
/// uncommitted find the part's claim pending. Such a claim came without an object, so a whole
/// copy must not count as its duplicate until the object is there; else the row turns whole
/// (a whole source) with no object behind it, and verify finds it missing.
#[test]
fn loose_copies_of_parts_in_flight_with_their_song_write_the_object() {
    let mut dir = Dir::new();
    let mut loose = 0;
    for seed in 0..40u64 {
        let song = midid::gen::midi_bytes(4, 300 + seed);
        dir.write(&format!("songs/Song {seed}.mid"), &song);
        for part in midid::library::split::split(&song) {
            dir.write(&format!("parts/Song {seed} part {}.mid", part.index), &part.bytes);
            loose += 1;
        }
    }
    assert!(loose >= 80, "the generated songs have parts");
    dir.start();
    // One job, songs first: the loose parts are read while the songs' parts are claimed and
    // their batch is not yet committed.
    let (songs, parts) = (dir.path("songs"), dir.path("parts"));
    let job = dir.ctl_json(&["import", path_str(&songs), path_str(&parts), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["rejected"], 0, "{job:#}");
    let verify = dir.ctl(&["verify", "--json"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "every whole row has its object: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // Every loose copy made its content whole.
    let db = dir.catalog();
    assert_eq!(
        crate::harness::count(&db, "SELECT COUNT(*) FROM files WHERE parent IS NULL"),
        40 + loose as i64,
        "songs and loose parts are whole files"
    );
}

/// The hex ids of the objects in the store.
fn object_files(dir: &Dir) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for fan in std::fs::read_dir(dir.data_dir().join("objects")).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(fan.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_suffix(".mid") {
                out.insert(hex.to_string());
            }
        }
    }
    out
}

/// Parts are catalogued without objects of their own (their bytes are the parent's object split
/// again): the store holds the song's object only, verify finds no part missing, gc removes
/// nothing, and an export writes each part's exact bytes.
#[test]
fn parts_have_no_objects_and_exports_make_them_byte_for_byte() {
    let mut dir = Dir::new();
    let song = midid::gen::midi_bytes(4, 78);
    let parts = midid::library::split::split(&song);
    assert!(parts.len() >= 2, "a generated song has parts");
    dir.write("songs/Song.mid", &song);
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&dir.path("songs")), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["parts"], parts.len() as u64, "{job:#}");
    let song_hash = midid::dedupe::to_hex(&midid::dedupe::content_id(&song));
    assert_eq!(object_files(&dir), BTreeSet::from([song_hash.clone()]), "one object: the song's");

    let verify = dir.ctl_json(&["verify", "--json"]);
    assert_eq!(verify["problems"], 0, "{verify:#}");
    assert_eq!(verify["catalogued"], 1, "parts need no object: {verify:#}");
    // Aged past gc's grace period, the song's object is kept for its parts (and itself), and
    // nothing else is there to remove.
    age(&dir.object_path(&song_hash), OLD);
    let gc = dir.ctl_json(&["gc", "--json"]);
    assert_eq!(gc["removed"], 0, "{gc:#}");
    assert_eq!(gc["referenced"], 1, "{gc:#}");
    assert!(dir.object_path(&song_hash).exists(), "gc kept the parts' parent object");

    let drive = dir.path("drive");
    std::fs::create_dir_all(&drive).expect("drive");
    let export = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(export["state"], "done", "{export:#}");
    assert_eq!(export["counts"]["rejected"], 0, "{export:#}");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(drive.join("midid-index.json")).expect("index")).expect("json");
    for part in &parts {
        let hash = midid::dedupe::to_hex(&midid::dedupe::content_id(&part.bytes));
        let entry = index["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["hash"] == hash.as_str())
            .unwrap_or_else(|| panic!("part {} exported: {index:#}", part.index));
        let mut written = Vec::new();
        std::io::Read::read_to_end(
            &mut std::fs::File::open(drive.join(entry["mid"].as_str().unwrap_or_default())).expect("the part's file"),
            &mut written,
        )
        .expect("reading the part's file");
        assert!(written == part.bytes, "part {} exported byte for byte", part.index);
    }
    // A second export, without the drive's index to go by, finds every part's file in place by
    // hashing what is there (a part has no object to compare with).
    std::fs::remove_file(drive.join("midid-index.json")).expect("remove the drive index");

    let again = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(again["state"], "done", "{again:#}");
    assert_eq!(again["counts"]["written"], 0, "{again:#}");
}

/// Regression: parts were made before the object write and the claim, so copies of one song in
/// flight together (on two shards, or two reads on one) were each split, and a part got one
/// source per copy that happened to race, a number that changed from run to run.
#[test]
fn copies_of_one_song_in_flight_together_are_split_once() {
    let mut dir = Dir::new();
    let song = midid::gen::midi_bytes(4, 91);
    let parts = midid::library::split::split(&song);
    assert!(parts.len() >= 2, "a generated song has parts");
    for i in 0..96 {
        dir.write(&format!("copies/{}/Song {i}.mid", i % 8), &song);
    }
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&dir.path("copies")), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["parts"], parts.len() as u64, "{job:#}");
    let parent = midid::dedupe::to_hex(&midid::dedupe::content_id(&song));
    let shown = dir.ctl_json(&["show", &parent, "--json"]);
    assert_eq!(shown["sources"].as_array().map(Vec::len), Some(96), "{shown:#}");
    for part in &parts {
        let hash = midid::dedupe::to_hex(&midid::dedupe::content_id(&part.bytes));
        let shown = dir.ctl_json(&["show", &hash, "--json"]);
        let sources = shown["sources"].as_array().map_or(0, Vec::len);
        assert_eq!(sources, 1, "part {} recorded once per split: {shown:#}", part.index);
    }
}

/// A song with more notes than a parent's seeds keep (`score::PartSeeds::MAX_NOTES`): its parts
/// are parsed and analysed from their own bytes instead, and are catalogued the same way, each
/// with its notes and analysis.
#[test]
fn a_song_too_big_for_seeds_has_its_parts_read_from_their_bytes() {
    let per_track = midid::analysis::score::PartSeeds::MAX_NOTES / 2 + 500;
    let track = |channel: u8, low: u8| {
        let mut body = Vec::new();
        for i in 0..per_track {
            let pitch = low + (i % 12) as u8;
            // Delta 0, note on; delta 12, note off.
            body.extend_from_slice(&[0x00, 0x90 | channel, pitch, 100, 0x0c, 0x80 | channel, pitch, 0]);
        }
        body.extend_from_slice(&[0x00, 0xff, 0x2f, 0x00]);
        body
    };
    let mut song = b"MThd\0\0\0\x06\0\x01\0\x02\0\x60".to_vec();
    for body in [track(0, 36), track(1, 60)] {
        song.extend_from_slice(b"MTrk");
        song.extend_from_slice(&(body.len() as u32).to_be_bytes());
        song.extend_from_slice(&body);
    }
    let parts = midid::library::split::split(&song);
    assert_eq!(parts.len(), 2, "two note tracks");
    let mut dir = Dir::new();
    dir.write("songs/Big Song.mid", &song);
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&dir.path("songs")), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["parts"], 2, "{job:#}");
    for part in &parts {
        let hash = midid::dedupe::to_hex(&midid::dedupe::content_id(&part.bytes));
        let shown = dir.ctl_json(&["show", &hash, "--json"]);
        assert_eq!(shown["notes"], per_track as u64, "{shown:#}");
        assert_eq!(shown["parent"], midid::dedupe::to_hex(&midid::dedupe::content_id(&song)).as_str(), "{shown:#}");
        assert!(shown["fingerprint"].is_string(), "analysed: {shown:#}");
    }
}
