//! Importing: every file accounted for, duplicates as generated, rejects by reason, re-import.

use std::collections::BTreeMap;

use midid::gen::{generate, Expected, GenSpec};

use crate::harness::{count, path_str, Dir};

fn expected_rejects(report: &midid::gen::GenReport) -> BTreeMap<String, u64> {
    report.count_rejected_by_reason().into_iter().map(|(k, v)| (k.to_string(), v as u64)).collect()
}

#[test]
fn import_generated_corpus_accounts_for_every_file() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    let report = generate(&corpus, &GenSpec { count: 600, duplicate_share: 0.3, damaged_share: 0.05, seed: 7 })
        .expect("generate");
    dir.start();

    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let c = &job["counts"];
    let n = report.files.len() as u64;
    assert_eq!(c["discovered"], n);
    assert_eq!(c["cataloged"], n);
    assert_eq!(c["imported"], (report.unique_good + report.repaired) as u64);
    assert_eq!(c["duplicates"], report.duplicates as u64);
    assert_eq!(c["rejected"], report.rejected as u64);
    let imported = c["imported"].as_u64().unwrap();
    let dups = c["duplicates"].as_u64().unwrap();
    let rejected = c["rejected"].as_u64().unwrap();
    assert_eq!(imported + dups + rejected, n, "every file is exactly one of imported/duplicate/rejected");

    let by_reason: BTreeMap<String, u64> = serde_json::from_value(job["rejects_by_reason"].clone()).unwrap();
    assert_eq!(by_reason, expected_rejects(&report));

    // status --json reports the same job the same way.
    let id = job["id"].as_u64().unwrap().to_string();
    let status = dir.ctl_json(&["status", &id, "--json"]);
    let sjob = status["jobs"].get(0).cloned().unwrap_or_else(|| status.clone());
    assert_eq!(sjob["counts"], job["counts"], "{status:#}");
    for key in ["id", "state", "elapsed_s", "files_per_s"] {
        assert!(sjob.get(key).is_some(), "status job lacks {key}: {sjob:#}");
    }

    // The catalog agrees, and every row has its object.
    let db = dir.catalog();
    // Parts split from songs are rows too, marked by their parent.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM files WHERE parent IS NULL") as u64, imported);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources WHERE parent IS NULL") as u64, imported + dups);
    let parts = c["parts"].as_u64().unwrap_or_default();
    assert!(parts > 0, "the generated songs have parts: {c:#}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources WHERE parent IS NOT NULL") as u64, parts);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rejects") as u64, rejected);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources WHERE hash NOT IN (SELECT hash FROM files)"), 0);

    // Repaired files carry their repair note.
    let repaired_notes: Vec<&str> = report
        .files
        .iter()
        .filter_map(|f| if let Expected::Repaired(r) = f.expected { Some(r) } else { None })
        .collect();
    for note in &repaired_notes {
        let n = count(&db, &format!("SELECT COUNT(*) FROM files WHERE repairs LIKE '%{note}%'"));
        assert!(n > 0, "no file carries repair note {note}");
    }

    // search --json: one object per file, in DESIGN section 6's shape, with absolute provenance.
    let files = dir.ctl_json(&["search", "--limit", "100000", "--json"]);
    let files = files.as_array().expect("array");
    let parents = files.iter().filter(|f| f["parent"].is_null()).count() as u64;
    assert_eq!(
        (parents, files.len() as u64),
        (imported, imported + count(&db, "SELECT COUNT(*) FROM files WHERE parent IS NOT NULL") as u64)
    );
    for f in files.iter().take(20) {
        for key in [
            "hash",
            "size",
            "format",
            "ppq",
            "tracks",
            "duration_s",
            "bpm",
            "key",
            "time_signature",
            "notes",
            "parent",
            "sources",
        ] {
            assert!(f.get(key).is_some(), "file lacks {key}: {f:#}");
        }
        let src = &f["sources"][0];
        assert!(src["path"].as_str().unwrap().starts_with(path_str(&corpus)), "{src}");
    }
    let hash = files[0]["hash"].as_str().unwrap();
    let shown = dir.ctl_json(&["show", &hash[..12], "--json"]);
    assert_eq!(shown["hash"], files[0]["hash"]);
    let objects = dir.data_dir().join("objects").join(&hash[..2]).join(format!("{hash}.mid"));
    assert!(objects.exists(), "object {objects:?} missing");
}

#[test]
fn reimport_after_restart_adds_no_rows() {
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    let report = generate(&corpus, &GenSpec { count: 300, duplicate_share: 0.2, damaged_share: 0.03, seed: 3 })
        .expect("generate");
    dir.start();
    let first = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(first["state"], "done");
    let db = dir.catalog();
    let before: Vec<i64> =
        ["files", "sources", "rejects"].iter().map(|t| count(&db, &format!("SELECT COUNT(*) FROM {t}"))).collect();
    drop(db);

    dir.ctl_json(&["shutdown", "--json"]);
    assert!(dir.wait_exit().success());
    dir.start();
    let second = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(second["state"], "done");
    let c = &second["counts"];
    assert_eq!(c["imported"], 0, "nothing is new the second time: {second:#}");
    assert_eq!(c["duplicates"], (report.unique_good + report.repaired + report.duplicates) as u64);
    let db = dir.catalog();
    let after: Vec<i64> =
        ["files", "sources", "rejects"].iter().map(|t| count(&db, &format!("SELECT COUNT(*) FROM {t}"))).collect();
    assert_eq!(before, after, "re-import must add no rows");
    // The first job survives the restart in the job history.
    let jobs = dir.ctl_json(&["jobs", "--json"]);
    let jobs = jobs.as_array().cloned().unwrap_or_else(|| jobs["jobs"].as_array().cloned().unwrap_or_default());
    assert!(jobs.iter().any(|j| j["id"] == first["id"] && j["state"] == "done"), "{jobs:#?}");
}

/// Each damage kind ends as its documented reject code, built byte by byte here.
#[test]
fn damaged_files_become_rejects_with_stable_reasons() {
    let mut dir = Dir::new();
    let good_track: &[u8] = &[0x00, 0x90, 0x3C, 0x64, 0x60, 0x80, 0x3C, 0x00, 0x00, 0xFF, 0x2F, 0x00];
    let smf = |division: u16| {
        let mut b = b"MThd\0\0\0\x06\0\0\0\x01".to_vec();
        b.extend_from_slice(&division.to_be_bytes());
        b.extend_from_slice(b"MTrk");
        b.extend_from_slice(&(good_track.len() as u32).to_be_bytes());
        b.extend_from_slice(good_track);
        b
    };
    dir.write("in/empty.mid", b"");
    dir.write("in/text.mid", b"this is not a MIDI file at all");
    dir.write("in/header_cut.mid", b"MThd\0\0\0\x06\0");
    dir.write("in/division0.mid", &smf(0));
    dir.write("in/smpte80.mid", &smf(0x8004));
    dir.write("in/ok.mid", &smf(96));
    dir.write("in/readme.txt", b"not counted as MIDI");
    std::os::unix::fs::symlink(dir.path("in"), dir.path("in/loop")).expect("symlink");
    dir.start();
    let job = dir.ctl_json(&["import", path_str(&dir.path("in")), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let by_reason: BTreeMap<String, u64> = serde_json::from_value(job["rejects_by_reason"].clone()).unwrap();
    let want: BTreeMap<String, u64> =
        [("empty", 1), ("not_midi", 1), ("truncated", 1), ("bad_division", 2), ("symlink_loop", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(by_reason, want, "{job:#}");
    assert_eq!(job["counts"]["imported"], 1);
    assert_eq!(job["counts"]["skipped"], 1);
    let rejects = dir.ctl_json(&["rejects", "--json"]);
    let rejects =
        rejects.as_array().cloned().unwrap_or_else(|| rejects["rejects"].as_array().cloned().unwrap_or_default());
    assert!(rejects
        .iter()
        .any(|r| r["reason"] == "bad_division" && r["path"].as_str().unwrap().ends_with("smpte80.mid")));
}

/// The size cap is checked before a file is read whole, and the file becomes `too_large`.
#[test]
fn files_over_the_size_cap_are_rejected_too_large() {
    let dir = Dir::new();
    let track: Vec<u8> =
        (0..200u8).flat_map(|i| [0x00, 0x90, 36 + i % 40, 0x64, 0x10, 0x80, 36 + i % 40, 0x00]).collect();
    let mut b = b"MThd\0\0\0\x06\0\0\0\x01\x01\xE0MTrk".to_vec();
    b.extend_from_slice(&(track.len() as u32 + 4).to_be_bytes());
    b.extend_from_slice(&track);
    b.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
    dir.write("in/big.mid", &b);
    dir.write("in/small.mid", b"MThd\0\0\0\x06\0\0\0\x01\x00\x60MTrk\0\0\0\x04\x00\xFF\x2F\x00");
    let config = dir.write("midid.toml", b"max_file_bytes = 1000\n");
    let out = std::process::Command::new(crate::harness::midid_bin())
        .args(["run", path_str(&dir.path("in")), "--data-dir", path_str(&dir.data_dir()), "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["rejects_by_reason"]["too_large"], 1, "{job:#}");
    assert_eq!(job["counts"]["imported"], 1, "{job:#}");
}
