//! Cancel, shutdown while importing, signals: nothing partial is ever visible.

use std::time::{Duration, Instant};

use midid::gen::{generate, GenSpec};

use crate::harness::{count, path_str, Dir};

fn catalog_is_consistent(dir: &Dir) {
    let db = dir.catalog();
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM sources WHERE hash NOT IN (SELECT hash FROM files)"),
        0,
        "source without file"
    );
    // A whole file's object, and a part's parent's (a part has none of its own: its bytes are
    // the parent's split again).
    let mut stmt =
        db.prepare("SELECT hex(hash) FROM files WHERE parent IS NULL UNION SELECT hex(parent) FROM files").unwrap();
    let hashes: Vec<String> = stmt
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .filter_map(Result::unwrap)
        .filter(|h| !h.is_empty())
        .collect();
    for h in hashes {
        let h = h.to_ascii_lowercase();
        let p = dir.data_dir().join("objects").join(&h[..2]).join(format!("{h}.mid"));
        assert!(p.exists(), "row without object: {h}");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs WHERE state = 'running'"), 0, "a job left running");
}

fn big_corpus(dir: &Dir, n: usize) -> std::path::PathBuf {
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: n, duplicate_share: 0.3, damaged_share: 0.0, seed: 11 }).expect("generate");
    corpus
}

#[test]
fn cancel_stops_a_job_cleanly() {
    let mut dir = Dir::new();
    let corpus = big_corpus(&dir, 6000);
    dir.start();
    let out = dir.ctl(&["import", path_str(&corpus)]);
    assert!(out.status.success());
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let cancelled = dir.ctl_json(&["cancel", &id, "--json"]);
    let state =
        cancelled["state"].as_str().or_else(|| cancelled["job"]["state"].as_str()).unwrap_or_default().to_string();
    assert!(state == "cancelled" || state == "done", "{cancelled:#}");
    // The daemon stays usable and the catalog consistent.
    let job = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(job["state"], "done");
    dir.ctl_json(&["shutdown", "--json"]);
    assert!(dir.wait_exit().success());
    catalog_is_consistent(&dir);
}

#[test]
fn shutdown_while_importing_leaves_no_partial_batch() {
    let mut dir = Dir::new();
    let corpus = big_corpus(&dir, 8000);
    dir.start();
    let out = dir.ctl(&["import", path_str(&corpus)]);
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(150));
    dir.ctl_json(&["shutdown", "--json"]);
    assert!(dir.wait_exit().success(), "{}", dir.log());
    catalog_is_consistent(&dir);
    // Everything committed is counted in the job row, and the job is closed.
    let db = dir.catalog();
    let state: String = db.query_row("SELECT state FROM jobs ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(state == "cancelled" || state == "done", "{state}");
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut dir = Dir::new();
    let corpus = big_corpus(&dir, 3000);
    dir.start();
    assert!(dir.ctl(&["import", path_str(&corpus)]).status.success());
    let pid = dir.daemon.as_ref().unwrap().id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let t = Instant::now();
    assert!(dir.wait_exit().success(), "{}", dir.log());
    assert!(t.elapsed() < Duration::from_secs(60));
    catalog_is_consistent(&dir);
}

#[test]
fn midid_run_imports_and_summarises() {
    let dir = Dir::new();
    let corpus = dir.path("corpus");
    let report =
        generate(&corpus, &GenSpec { count: 200, duplicate_share: 0.25, damaged_share: 0.0, seed: 2 }).unwrap();
    let out = std::process::Command::new(crate::harness::midid_bin())
        .args(["run", path_str(&corpus), "--data-dir", path_str(&dir.data_dir()), "--shards", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(job["state"], "done");
    assert_eq!(job["counts"]["duplicates"], report.duplicates as u64);
    // The epoll fallback runs the same pipeline.
    let out = std::process::Command::new(crate::harness::midid_bin())
        .args([
            "run",
            path_str(&corpus),
            "--data-dir",
            path_str(&dir.path("data-epoll")),
            "--io-driver",
            "epoll",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["counts"]["duplicates"], report.duplicates as u64);
}

/// A data dir takes one midid at a time: a second daemon or a `midid run` on it exits 1 naming
/// the data dir (gc's safety rests on one process's dedupe index knowing every claim on the
/// store), and a daemon killed with SIGKILL leaves no lock behind.
#[test]
fn one_data_dir_takes_one_midid_and_a_killed_one_leaves_no_lock() {
    let mut dir = Dir::new();
    dir.write("in/a.mid", &midid::gen::midi_bytes(1, 5));
    dir.start();
    let (input, data) = (dir.path("in"), dir.data_dir());
    let run = || {
        std::process::Command::new(crate::harness::midid_bin())
            .args(["run", path_str(&input), "--data-dir", path_str(&data), "--json"])
            .output()
            .expect("running midid run")
    };
    let refused = run();
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("in use by another midid"), "{stderr}");
    assert!(stderr.contains(path_str(&dir.data_dir())), "{stderr}");

    let second = std::process::Command::new(crate::harness::midid_bin())
        .args(["serve", "--socket", path_str(&dir.path("second.sock")), "--data-dir", path_str(&dir.data_dir())])
        .output()
        .expect("running a second midid serve");
    assert_eq!(second.status.code(), Some(1), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by another midid"));
    assert!(!dir.path("second.sock").exists(), "the refused daemon left no socket");
    // The first daemon is unharmed.
    let status = dir.ctl_json(&["status", "--json"]);
    assert_eq!(status["daemon"]["data_dir"], path_str(&dir.data_dir()), "{status:#}");

    let mut child = dir.daemon.take().expect("daemon");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let after = run();
    assert!(after.status.success(), "the kernel dropped the lock: {}", String::from_utf8_lossy(&after.stderr));
}

/// Regression: files larger than the first read took a one-off buffer and the pooled one was
/// dropped, so every such file shrank the shard's pool until a received unit could not start and
/// was lost; the job then never completed (seen as a hang on a 200,000-file import).
#[test]
fn large_files_do_not_drain_the_buffer_pool() {
    let dir = Dir::new();
    let mut track = Vec::new();
    for i in 0..3000u32 {
        let key = 36 + (i % 48) as u8;
        track.extend_from_slice(&[0x00, 0x90, key, 0x64, 0x10, 0x80, key, 0x00]);
    }
    track.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
    for n in 0..40u32 {
        let mut b = b"MThd\0\0\0\x06\0\0\0\x01\x01\xE0MTrk".to_vec();
        let mut t = vec![0x00, 0xFF, 0x01, 0x04];
        t.extend_from_slice(&n.to_be_bytes());
        t.extend_from_slice(&track);
        b.extend_from_slice(&(t.len() as u32).to_be_bytes());
        b.extend_from_slice(&t);
        assert!(b.len() > 16 * 1024);
        dir.write(&format!("big/{n:02}.mid"), &b);
    }
    let config = dir.write("midid.toml", b"inflight_per_shard = 2\n");
    let mut child = std::process::Command::new(crate::harness::midid_bin())
        .args(["run", path_str(&dir.path("big")), "--data-dir", path_str(&dir.data_dir()), "--json"])
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("midid run hung on large files");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let job: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["counts"]["imported"], 40, "{job:#}");
}
