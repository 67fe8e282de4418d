//! What the benchmarks share: running the real `midid run` with its peak RSS sampled, and a
//! cold page cache.

#![allow(dead_code)]

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use midid::gen::{generate, GenSpec};

pub fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

pub fn drop_caches() -> bool {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return false;
    }
    // SAFETY: no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

pub struct MididRun {
    pub files: u64,
    pub secs: f64,
    pub max_rss_kb: i64,
    /// The finished job as `midid run --json` printed it.
    pub job: serde_json::Value,
}

/// Runs `midid run` on `corpus` and samples its peak RSS (VmHWM) while it runs.
///
/// Not `wait4`'s `ru_maxrss`: Linux carries the high-water mark of the pre-exec address space
/// (this bench process, which holds a generated corpus) into the child's figure, which made a
/// 20,000- and a 200,000-file run report the same 68 MB. VmHWM belongs to the exec'd image only;
/// polled every 10 ms, it can miss at most the growth of the last 10 ms before exit.
pub fn run_midid(corpus: &Path, data: &Path) -> MididRun {
    run_midid_env(corpus, data, &[])
}

/// [`run_midid`] with extra environment variables (`MIDID_SPLIT=false`).
pub fn run_midid_env(corpus: &Path, data: &Path, env: &[(&str, &str)]) -> MididRun {
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_midid"))
        .envs(env.iter().copied())
        .arg("run")
        .arg(corpus)
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .env("MIDID_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawning midid");
    let status_file = format!("/proc/{}/status", child.id());
    // Read stdout on a thread so a full pipe can never block the child while we sample.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut s = String::new();
        stdout.read_to_string(&mut s).expect("reading midid output");
        s
    });
    let mut max_rss_kb = 0;
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().as_deref().and_then(vm_hwm_kb) {
            max_rss_kb = max_rss_kb.max(hwm);
        }
        if let Some(status) = child.try_wait().expect("waiting for midid") {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let secs = t.elapsed().as_secs_f64();
    let out = reader.join().expect("stdout reader");
    assert!(status.success(), "midid run failed: {status}");
    let job: serde_json::Value = serde_json::from_str(&out).expect("midid --json output");
    assert_eq!(job["state"], "done", "{job:#}");
    MididRun { files: job["counts"]["discovered"].as_u64().unwrap_or(0), secs, max_rss_kb, job }
}

fn vm_hwm_kb(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The generated corpus of `files` files (half exact duplicates), made once and cached under
/// `root` (a `.complete` marker says it is whole).
pub fn make_corpus(root: &Path, files: usize) -> PathBuf {
    let dir = root.join(format!("corpus-{files}"));
    let marker = dir.join(".complete");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let spec = GenSpec { count: files, duplicate_share: 0.5, damaged_share: 0.0, seed: 42 };
        let t = Instant::now();
        let r = generate(&dir, &spec).expect("generating the corpus");
        std::fs::write(&marker, b"").expect("marker");
        eprintln!(
            "generated {} files ({} MB) in {:.1}s",
            r.files.len(),
            r.total_bytes / 1_000_000,
            t.elapsed().as_secs_f64()
        );
    }
    dir
}

/// Where benchmarks keep their corpora and runs: `MIDID_BENCH_DIR`, else `target/bench-data`.
pub fn bench_root() -> PathBuf {
    PathBuf::from(
        std::env::var("MIDID_BENCH_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data").into()),
    )
}
