//! `midictl export` as a producer uses it: a generated library onto a drive, checked against the
//! writer profiles' rules (as code), the layout's routing promises, a second run that writes
//! nothing, a dry run that writes nothing, and a file of the user's that is never touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use midid::export::{mpcpattern, progression};
use midid::gen::{generate, GenSpec};
use serde_json::Value;

use crate::harness::{count, path_str, Dir};

/// Every file under `root` with its modification time.
fn files(root: &Path) -> BTreeMap<String, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name() == ".midid-export.lock" {
                // The export's lock, kept (hidden) so two exports never run at once.
            } else {
                assert!(!e.file_name().to_string_lossy().ends_with(".midid-tmp"), "a temp file left: {}", p.display());
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, e.metadata().unwrap().modified().unwrap());
            }
        }
    }
    out
}

fn drum_folder(part: &str) -> &'static str {
    match part {
        "kick" => "Kicks",
        "snare" => "Snares",
        "hat_closed" | "hat_open" => "Hats",
        "crash" | "ride" => "Cymbals",
        "toms" => "Toms",
        _ => "Percussion",
    }
}

#[test]
fn a_library_exports_in_the_device_formats_and_a_second_run_writes_nothing() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: 300, duplicate_share: 0.3, damaged_share: 0.02, seed: 7 }).unwrap();
    let drive = dir.path("drive");
    std::fs::create_dir_all(drive.join("MPC_Documents/SAMPLES/Bass")).unwrap();
    // The user's own things: never overwritten, never removed.
    std::fs::write(drive.join("MPC_Documents/SAMPLES/Bass/mine.mid"), b"not ours").unwrap();
    std::fs::write(drive.join("notes.txt"), b"my notes").unwrap();
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");

    let plan = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--dry-run", "--json"]);
    let catalogued = dir.ctl_json(&["search", "--limit", "10000", "--json"]);
    let catalogued = catalogued.as_array().unwrap();
    assert_eq!(plan["files"], catalogued.len() as u64, "{plan:#}");
    assert_eq!(plan["to_write"], plan["files"]);
    assert_eq!(files(&drive).len(), 2, "a dry run writes nothing");

    let job = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["kind"], "export");
    let first = files(&drive);
    assert_eq!(
        job["counts"]["written"].as_u64().unwrap() as usize,
        first.len() - 4,
        "all but the index and the user's two"
    );
    assert_eq!(std::fs::read_to_string(drive.join("MPC_Documents/SAMPLES/Bass/mine.mid")).unwrap(), "not ours");
    // The catalog knows what went where (DESIGN section 4, `exports`) once the job reads done.
    let recorded = count(&dir.catalog(), "SELECT count(*) FROM exports WHERE target = 'mpc'");
    assert_eq!(recorded as u64, job["counts"]["written"].as_u64().unwrap());

    let index: Value = serde_json::from_str(&std::fs::read_to_string(drive.join("midid-index.json")).unwrap()).unwrap();
    let listed = index["files"].as_array().unwrap();
    assert_eq!(listed.len(), catalogued.len());
    let by_hash: BTreeMap<&str, &Value> = catalogued.iter().map(|f| (f["hash"].as_str().unwrap(), f)).collect();
    let (mut patterns, mut progressions, mut drums, mut chords) = (0, 0, 0, 0);
    for e in listed {
        let f = by_hash[e["hash"].as_str().unwrap()];
        let mid = e["mid"].as_str().unwrap();
        assert!(first.contains_key(mid), "{mid} listed but missing");
        assert!(mid.split('/').all(|c| c.encode_utf16().count() <= 100) && mid.encode_utf16().count() <= 240, "{mid}");
        if f["role"] == "drums" {
            if let Some(part) = f["drum_dominant"].as_str() {
                drums += 1;
                assert!(
                    mid.starts_with(&format!("MPC_Documents/SAMPLES/Drums/{}/", drum_folder(part))),
                    "{part} file in {mid}"
                );
            }
        }
        for p in e["patterns"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            let text = std::fs::read_to_string(drive.join(p)).unwrap();
            let broken = mpcpattern::check(&text);
            assert!(broken.is_empty(), "{p}: {broken:?}");
            assert!(p.starts_with(mid.trim_end_matches(".mid")), "{p} is beside {mid}");
            patterns += 1;
        }
        if f["role"] == "chords" && e["copy_only"].is_null() {
            chords += 1;
            let p = e["progression"].as_str().unwrap_or_else(|| panic!("chord file {mid} has no progression"));
            let text = std::fs::read_to_string(drive.join(p)).unwrap();
            let broken = progression::check(&text, p);
            assert!(broken.is_empty(), "{p}: {broken:?}");
            progressions += 1;
        }
    }
    assert!(
        patterns > 100 && progressions > 5 && drums > 10 && chords == progressions,
        "{patterns} {progressions} {drums}"
    );
    // Names are unique case-insensitively, as exFAT compares them.
    let lower: std::collections::BTreeSet<String> = first.keys().map(|k| k.to_lowercase()).collect();
    assert_eq!(lower.len(), first.len());

    // Again: same plan, nothing written, nothing touched.
    let plan = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--dry-run", "--json"]);
    assert_eq!(plan["to_write"], 0, "{plan:#}");
    let job = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["written"], 0, "{job:#}");
    let second = files(&drive);
    for (k, t) in &first {
        if !k.starts_with("midid-index") {
            assert_eq!(second.get(k), Some(t), "{k} was touched by the second run");
        }
    }
    assert_eq!(second.len(), first.len());

    // A file deleted on the drive comes back; the others stay untouched.
    let gone = listed[0]["mid"].as_str().unwrap();
    std::fs::remove_file(drive.join(gone)).unwrap();
    let job = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(job["counts"]["written"], 1, "only the missing file: {job:#}");
    assert!(drive.join(gone).exists());
    for (k, t) in &first {
        if k != gone && !k.starts_with("midid-index") {
            assert_eq!(files(&drive).get(k), Some(t), "{k} was rewritten with the missing file");
        }
    }
}

#[test]
fn export_refuses_a_bad_target_query_or_template() {
    let mut dir = Dir::new();
    dir.start();
    let drive = dir.path("drive");
    let bad = dir.ctl(&["export", "--target", "akai", "--to", path_str(&drive)]);
    assert_eq!(bad.status.code(), Some(2), "a target typo is a usage error");
    let bad = dir.ctl(&["export", "--target", "mpc", "--to", path_str(&drive), "colour:red"]);
    assert_eq!(bad.status.code(), Some(1));
    let bad = dir.ctl(&["export", "--target", "mpc", "--to", path_str(&drive), "--rename={nope}"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(!drive.exists(), "nothing created on a refused export");
}

#[test]
fn rename_on_export_names_by_the_template() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: 40, duplicate_share: 0.0, damaged_share: 0.0, seed: 3 }).unwrap();
    let drive = dir.path("drive");
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let job = dir.ctl_json(&[
        "export",
        "--target",
        "force",
        "--to",
        path_str(&drive),
        "--rename={bpm|x}bpm/{hash}",
        "--wait",
        "--json",
    ]);
    assert_eq!(job["state"], "done", "{job:#}");
    let index: Value = serde_json::from_str(&std::fs::read_to_string(drive.join("midid-index.json")).unwrap()).unwrap();
    for e in index["files"].as_array().unwrap() {
        let mid = e["mid"].as_str().unwrap();
        let hash8 = &e["hash"].as_str().unwrap()[..8];
        assert!(mid.ends_with(&format!("bpm/{hash8}.mid")), "{mid}");
    }
}

/// A run cut after its files and before its index leaves the pending list: the next run adopts
/// the files it finds there (no copies under new names) and writes the index.
#[test]
fn an_export_cut_before_its_index_is_adopted_not_duplicated() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: 120, duplicate_share: 0.0, damaged_share: 0.0, seed: 5 }).unwrap();
    let drive = dir.path("drive");
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let job = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let before = files(&drive);
    // The state a crash between the last file and the index leaves: files, no index, the pending
    // list of the names that run claimed (the index holds the same names).
    std::fs::rename(drive.join("midid-index.json"), drive.join(".midid-pending.json")).unwrap();
    std::fs::remove_file(drive.join("midid-index.csv")).unwrap();
    let job = dir.ctl_json(&["export", "--target", "mpc", "--to", path_str(&drive), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["written"], 0, "everything was there: {job:#}");
    let after = files(&drive);
    let new: Vec<&String> =
        after.keys().filter(|k| !before.contains_key(*k) && !k.starts_with("midid-index")).collect();
    assert!(new.is_empty(), "written again under other names: {new:?}");
    assert!(!drive.join(".midid-pending.json").exists(), "the pending list goes once the index is written");
}
