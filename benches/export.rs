//! Export speed: the generated library (20,000 files, `MIDID_BENCH_FILES`) imported once, then
//! exported with `midid run --export mpc` to a fresh drive folder, side by side in each round with
//! a baseline that only copies the same objects, one after the other, into one flat folder (the
//! floor: no routing, no conversion, no index). Then the same export again onto the written drive
//! (the incremental case: everything unchanged). Files are catalogued files; each becomes a `.mid`
//! plus its patterns and progression.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{bench_root, env_usize, make_corpus, run_midid};

/// `midid run` over an empty folder with `--export`: the job printed is the export's.
fn export(data: &Path, drive: &Path, empty: &Path) -> (u64, f64, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_midid"))
        .args(["run", "--export", "mpc", "--json", "--data-dir"])
        .arg(data)
        .arg("--to")
        .arg(drive)
        .arg(empty)
        .env("MIDID_LOG", "warn")
        .output()
        .expect("running midid");
    assert!(out.status.success(), "midid run --export failed: {}", String::from_utf8_lossy(&out.stderr));
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the job as JSON");
    assert_eq!(job["kind"], "export", "{job}");
    (job["counts"]["discovered"].as_u64().unwrap_or(0), job["elapsed_s"].as_f64().unwrap_or(f64::NAN), job)
}

/// Copies every object into `to` on one thread.
fn baseline(objects: &Path, to: &Path) -> (u64, f64) {
    std::fs::create_dir_all(to).expect("baseline folder");
    let t = Instant::now();
    let mut n = 0u64;
    for fan in std::fs::read_dir(objects).expect("objects").flatten() {
        if !fan.path().is_dir() || fan.file_name() == "tmp" {
            continue;
        }
        for obj in std::fs::read_dir(fan.path()).expect("fan-out").flatten() {
            let name = format!("{}.mid", obj.file_name().to_string_lossy());
            std::fs::copy(obj.path(), to.join(name)).expect("copy");
            n += 1;
        }
    }
    (n, t.elapsed().as_secs_f64())
}

fn main() {
    if std::env::args().all(|a| a != "--bench") {
        println!("export benchmark: run with `cargo bench -p midid --bench export`");
        return;
    }
    let files = env_usize("MIDID_BENCH_FILES", 20_000);
    let rounds = env_usize("MIDID_BENCH_ROUNDS", 3);
    let root = bench_root();
    let corpus = make_corpus(&root, files);
    let runs = root.join("export-runs");
    let _ = std::fs::remove_dir_all(&runs);
    let data = runs.join("data");
    let imported = run_midid(&corpus, &data);
    let empty = runs.join("empty");
    std::fs::create_dir_all(&empty).expect("empty folder");
    println!(
        "library: {} files imported from {files}, {} catalogued (parts included), {} cores",
        imported.files,
        imported.job["counts"]["imported"].as_u64().unwrap_or(0)
            + imported.job["counts"]["parts"].as_u64().unwrap_or(0),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<6} {:>12} {:>12} {:>8} {:>14} {:>10}",
        "round", "export f/s", "copy f/s", "ratio", "again f/s", "written"
    );
    let mut rates = Vec::new();
    for r in 1..=rounds {
        let drive = runs.join(format!("drive-{r}"));
        let (n, secs, job) = export(&data, &drive, &empty);
        let (bn, bs) = baseline(&data.join("objects"), &runs.join(format!("copy-{r}")));
        let (an, asecs, again) = export(&data, &drive, &empty);
        assert_eq!(again["counts"]["written"], 0, "the second export wrote files: {again}");
        let (rate, brate) = (n as f64 / secs, bn as f64 / bs);
        rates.push(rate);
        println!(
            "{r:<6} {rate:>12.0} {brate:>12.0} {:>8.2} {:>14.0} {:>10}",
            rate / brate,
            an as f64 / asecs,
            job["counts"]["written"]
        );
    }
    rates.sort_by(f64::total_cmp);
    println!("median export: {:.0} files/s", rates[rates.len() / 2]);
    let _ = std::fs::remove_dir_all(&runs);
}
