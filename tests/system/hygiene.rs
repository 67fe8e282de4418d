//! Object store hygiene through the real binaries: `midictl gc` removes objects no row names and
//! keeps every catalogued one (also while an import runs), the daemon's periodic gc does the same
//! on its own, and `midictl verify` finds rotten and missing objects and exits 1.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use midid::dedupe::{content_id, to_hex};
use midid::gen::{generate, midi_bytes, GenSpec};

use crate::harness::{age, count, path_str, Dir, OLD};

fn read_file(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).expect("read");
    bytes
}

/// These tests count objects against the files they wrote: songs split into parts would add
/// objects of their own, so splitting is off here (the library tests cover parts).
const NO_SPLIT: &[&str] = &["--split", "false"];

fn catalogued(dir: &Dir) -> Vec<String> {
    let db = dir.catalog();
    let mut stmt = db.prepare("SELECT lower(hex(hash)) FROM files ORDER BY hash").expect("prepare");
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).expect("query");
    rows.map(|r| r.expect("row")).collect()
}

fn assert_every_row_has_its_object(dir: &Dir) {
    for hex in catalogued(dir) {
        assert!(dir.object_path(&hex).exists(), "row without object: {hex}");
    }
}

/// Five generated files imported; returns their content ids in hex.
fn import_five(dir: &Dir) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..5 {
        let bytes = midi_bytes(i, 900 + i as u64);
        ids.push(to_hex(&content_id(&bytes)));
        dir.write(&format!("in/{i}.mid"), &bytes);
    }
    let job = dir.ctl_json(&["import", path_str(&dir.path("in")), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    assert_eq!(job["counts"]["imported"], 5, "{job:#}");
    ids.sort();
    ids
}

#[test]
fn gc_removes_stray_objects_and_keeps_catalogued_ones() {
    let mut dir = Dir::new();
    dir.start_with(NO_SPLIT);
    let ids = import_five(&dir);
    assert_eq!(catalogued(&dir), ids);

    let orphan = dir.plant(b"MThd stray bytes from a crashed import", OLD);
    let fresh = dir.plant(b"MThd written a moment ago", Duration::ZERO);
    let temp = dir.data_dir().join("objects/tmp/0123.0.7");
    std::fs::write(&temp, b"temp left behind").expect("temp");
    age(&temp, OLD);
    let foreign = dir.data_dir().join("objects/ab/README");
    std::fs::write(&foreign, b"not an object name").expect("foreign");
    // Catalogued objects look old too: age alone never removes one.
    for hex in &ids {
        age(&dir.object_path(hex), OLD);
    }

    let dry = dir.ctl(&["gc", "--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains(&format!("would remove {}", orphan.display())), "{text}");
    assert!(orphan.exists() && temp.exists(), "a dry run removes nothing");

    let report = dir.ctl_json(&["gc", "--json"]);
    assert_eq!(report["dry_run"], false, "{report:#}");
    assert_eq!(report["scanned"], 7, "5 catalogued + 2 planted: {report:#}");
    assert_eq!(report["referenced"], 5, "{report:#}");
    assert_eq!(report["removed"], 1, "{report:#}");
    assert_eq!(report["kept_new"], 1, "{report:#}");
    assert_eq!(report["kept_pending"], 0, "{report:#}");
    assert_eq!(report["temp_removed"], 1, "{report:#}");
    assert_eq!(report["ignored"], 1, "{report:#}");
    let freed = b"MThd stray bytes from a crashed import".len() + b"temp left behind".len();
    assert_eq!(report["bytes_freed"], freed as u64, "{report:#}");
    let paths: Vec<&str> = report["paths"].as_array().expect("paths").iter().filter_map(|p| p.as_str()).collect();
    assert!(paths.contains(&path_str(&orphan)), "{report:#}");
    assert!(report["errors"].as_array().expect("errors").is_empty(), "{report:#}");

    assert!(!orphan.exists(), "the stray object is gone");
    assert!(!temp.exists(), "the stale temp file is gone");
    assert!(fresh.exists(), "a new object is kept");
    assert!(foreign.exists(), "what is not an object is never touched");
    assert_every_row_has_its_object(&dir);

    // And the store is intact afterwards.
    let (code, verify) = dir.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(0), "{verify:#}");
    assert_eq!(verify["objects"], 6, "{verify:#}");
    assert_eq!(verify["unreferenced"], 1, "the fresh stray: {verify:#}");
}

#[test]
fn verify_reports_a_rotten_object_then_a_missing_one_and_exits_1() {
    let mut dir = Dir::new();
    dir.start_with(NO_SPLIT);
    let ids = import_five(&dir);
    let (code, clean) = dir.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(0), "{clean:#}");
    assert_eq!((clean["objects"].as_u64(), clean["catalogued"].as_u64()), (Some(5), Some(5)), "{clean:#}");
    assert_eq!(clean["problems"], 0);

    let rotten = dir.object_path(&ids[1]);
    let mut bytes = read_file(&rotten);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&rotten, &bytes).expect("rot one byte");
    let (code, r) = dir.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(1), "{r:#}");
    assert_eq!(r["problems"], 1, "{r:#}");
    let mismatched = r["mismatched"].as_array().expect("mismatched");
    assert_eq!(mismatched.len(), 1, "exactly the rotten object: {r:#}");
    assert_eq!(mismatched[0]["path"], path_str(&rotten));
    assert_eq!(mismatched[0]["expected"], ids[1].as_str());
    assert_eq!(mismatched[0]["actual"], to_hex(&content_id(&bytes)).as_str());
    assert_eq!(mismatched[0]["referenced"], true);
    assert!(r["missing"].as_array().expect("missing").is_empty(), "{r:#}");

    // gc never removes a catalogued object, rotten or not.
    age(&rotten, OLD);
    let gc = dir.ctl_json(&["gc", "--json"]);
    assert_eq!(gc["removed"], 0, "{gc:#}");
    assert!(rotten.exists());

    let lost = dir.object_path(&ids[3]);
    std::fs::remove_file(&lost).expect("lose one");
    let (code, r) = dir.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(1), "{r:#}");
    assert_eq!(r["problems"], 2, "{r:#}");
    let missing = r["missing"].as_array().expect("missing");
    assert_eq!(missing.len(), 1, "{r:#}");
    assert_eq!(missing[0]["hash"], ids[3].as_str());
    assert_eq!(missing[0]["path"], path_str(&lost));
    assert_eq!(r["mismatched"].as_array().map(Vec::len), Some(1), "{r:#}");

    // The human form says the same and exits the same.
    let out = dir.ctl(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("missing  {}", ids[3])), "{text}");
    assert!(text.contains(path_str(&rotten)), "{text}");
}

#[test]
fn the_daemon_collects_on_its_own_every_gc_interval() {
    let mut dir = Dir::new();
    dir.start_with(&["--gc-interval-s", "1", "--split", "false"]);
    let ids = import_five(&dir);
    for hex in &ids {
        age(&dir.object_path(hex), OLD);
    }
    let orphan = dir.plant(b"MThd stray, found by the timer", OLD);
    let deadline = Instant::now() + Duration::from_secs(30);
    while orphan.exists() {
        assert!(Instant::now() < deadline, "periodic gc did not run: {}", dir.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_every_row_has_its_object(&dir);
    assert!(dir.log().contains("periodic gc"), "{}", dir.log());
}

/// The race gc must win: every content of the corpus is already in the store as an old stray
/// object (as after a crash that lost the rows), so each shard write finds one under its name and
/// keeps it, while gc runs again and again to remove exactly those. No row may end up without its
/// object.
#[test]
fn gc_during_an_import_never_loses_a_catalogued_object() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    let report = generate(&corpus, &GenSpec { count: 3000, duplicate_share: 0.2, damaged_share: 0.0, seed: 5 })
        .expect("generate");
    for f in &report.files {
        dir.plant(&read_file(&corpus.join(&f.rel_path)), OLD);
    }
    dir.start_with(NO_SPLIT);
    let out = dir.ctl(&["import", path_str(&corpus)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut runs = 0;
    let mut removed = 0;
    loop {
        let gc = dir.ctl_json(&["gc", "--json"]);
        removed += gc["removed"].as_u64().expect("removed");
        runs += 1;
        let job = dir.ctl_json(&["status", &id, "--json"]);
        let job = job["jobs"].get(0).cloned().unwrap_or(job);
        if job["state"] != "running" && job["state"] != "queued" {
            assert_eq!(job["state"], "done", "{job:#}");
            break;
        }
        assert!(Instant::now() < deadline, "import did not finish: {}", dir.log());
    }
    eprintln!("{runs} gc runs during the import removed {removed} stray objects");

    assert_every_row_has_its_object(&dir);
    assert_eq!(count(&dir.catalog(), "SELECT COUNT(*) FROM files") as usize, report.unique_good + report.repaired);
    let (code, verify) = dir.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(0), "{verify:#}");
    assert_eq!(verify["catalogued"], (report.unique_good + report.repaired) as u64, "{verify:#}");
}
