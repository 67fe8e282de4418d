//! End-to-end import benchmark: `midid run` against a plain baseline, same corpus, same run.
//!
//! The corpus is the project's own generator: 20,000 files (`MIDID_BENCH_FILES`), half of them
//! exact duplicates. Each round drops the page cache first when running as root (so both sides
//! start cold), then runs, in turn:
//! - `midid`: the real binary, `midid run CORPUS --data-dir FRESH --json` (shards, io_uring,
//!   O_DIRECT, lazy midly events, group commit);
//! - baseline: what one would write in an afternoon with std::fs + rayon + midly + the same
//!   HighwayHash + the same SQLite statements (objects written temp+rename, one syncfs before the
//!   single commit, so its durability matches ours), and the same musical analysis call.
//!
//! Then, alternately over the same rounds: the same files packed into nested archives against
//! the loose files, and the library's work (split and fingerprints) against `midid` with both
//! off (`MIDID_SPLIT=false MIDID_FINGERPRINTS=false`).
//!
//! It prints files/s for both and the ratio, and the peak RSS of `midid`. With
//! `MIDID_BENCH_RSS_FILES=200000` it also imports a corpus of that size and compares peak RSS
//! (the memory-flatness check). Never a timed assertion: figures are printed, not judged.

// The baseline is deliberately the plain way: midly's allocating parser and whole-file reads of
// a corpus this benchmark generated itself. The project's own code may not do either.
#![allow(clippy::disallowed_methods)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use midid::catalog::{sqlite, Described};
use midid::dedupe::content_id;
use midid::midi::{Facts, Repairs, Timing};
use rayon::prelude::*;

mod common;
use common::{bench_root, drop_caches, env_usize, make_corpus, run_midid, run_midid_env};

/// The corpus packed as `zips.zip` (an outer zip holding one inner zip per 2,000 files of the
/// first half) and `rest.7z` (the second half, LZMA2 level 1, a block per file). Cached beside the corpus.
fn make_packed(root: &Path, corpus: &Path, files: usize) -> PathBuf {
    use std::io::Write;
    let dir = root.join(format!("packed-{files}"));
    let marker = dir.join(".complete");
    if marker.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("packed dir");
    let t = Instant::now();
    let mut list: Vec<PathBuf> = walkdir::WalkDir::new(corpus)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() != ".complete")
        .map(|e| e.into_path())
        .collect();
    list.sort();
    let (first, second) = list.split_at(list.len() / 2);
    let rel = |p: &Path| p.strip_prefix(corpus).expect("under corpus").to_string_lossy().into_owned();
    let opts = zip::write::SimpleFileOptions::default();
    let mut outer = zip::ZipWriter::new(std::fs::File::create(dir.join("zips.zip")).expect("zips.zip"));
    for (i, chunk) in first.chunks(2000).enumerate() {
        let mut inner = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for p in chunk {
            inner.start_file(rel(p), opts).expect("inner entry");
            inner.write_all(&std::fs::read(p).expect("corpus file")).expect("inner data");
        }
        let bytes = inner.finish().expect("inner zip").into_inner();
        outer.start_file(format!("part-{i:02}.zip"), opts).expect("outer entry");
        outer.write_all(&bytes).expect("outer data");
    }
    outer.finish().expect("outer zip");
    let mut sz = sevenz_rust2::ArchiveWriter::new(std::fs::File::create(dir.join("rest.7z")).expect("rest.7z"))
        .expect("7z writer");
    sz.set_content_methods(vec![sevenz_rust2::encoder_options::Lzma2Options::from_level(1).into()]);
    for p in second {
        let data = std::fs::read(p).expect("corpus file");
        sz.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(&rel(p)), Some(data.as_slice())).expect("7z entry");
    }
    sz.finish().expect("7z finish");
    std::fs::write(&marker, b"").expect("marker");
    eprintln!("packed {} files into nested zips and a 7z in {:.1}s", list.len(), t.elapsed().as_secs_f64());
    dir
}

/// The plain way to compute the same facts: midly's allocating `Smf::parse`.
fn baseline_facts(bytes: &[u8]) -> Option<Facts> {
    // Same guard as ours: midly panics on an SMPTE byte of 0x80, and a baseline that crashes
    // measures nothing.
    if bytes.len() >= 14 && bytes[12] == 0x80 {
        return None;
    }
    let smf = midly::Smf::parse(bytes).ok()?;
    let (timing, ppq) = match smf.header.timing {
        midly::Timing::Metrical(t) => (Timing::Metrical { ppq: t.as_int() }, f64::from(t.as_int())),
        midly::Timing::Timecode(fps, tpf) => {
            (Timing::Timecode { fps: f64::from(fps.as_f32()), ticks_per_frame: tpf }, 0.0)
        }
    };
    let mut tempo: Vec<(u64, u32)> = Vec::new();
    let (mut notes, mut drum_notes, mut events, mut channels, mut ticks) = (0u64, 0u64, 0u64, 0u16, 0u64);
    let mut ts = None;
    for track in &smf.tracks {
        let mut t = 0u64;
        for ev in track {
            events += 1;
            t += u64::from(ev.delta.as_int());
            match ev.kind {
                midly::TrackEventKind::Midi { channel, message } => {
                    channels |= 1 << channel.as_int();
                    if let midly::MidiMessage::NoteOn { vel, .. } = message {
                        if vel > 0 {
                            notes += 1;
                            drum_notes += u64::from(channel == 9);
                        }
                    }
                }
                midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(us)) => tempo.push((t, us.as_int())),
                midly::TrackEventKind::Meta(midly::MetaMessage::TimeSignature(n, d, _, _))
                    if ts.is_none() && d <= 7 =>
                {
                    ts = Some((n, 1u16 << d))
                }
                _ => {}
            }
        }
        ticks = ticks.max(t);
    }
    tempo.sort_by_key(|x| x.0);
    let (mut secs, mut last, mut us) = (0.0, 0u64, 500_000u32);
    if ppq > 0.0 {
        for &(t, u) in tempo.iter().filter(|x| x.0 < ticks) {
            secs += (t - last) as f64 * f64::from(us) / ppq / 1e6;
            last = t;
            us = u;
        }
        secs += (ticks - last) as f64 * f64::from(us) / ppq / 1e6;
    }
    let bpm = tempo.first().map(|x| 60e6 / f64::from(x.1));
    Some(Facts {
        format: smf.header.format as u16,
        timing,
        tracks: smf.tracks.len() as u32,
        channels,
        notes,
        drum_notes,
        events,
        duration_ticks: ticks,
        duration_s: secs,
        bpm: bpm.unwrap_or(120.0),
        bpm_source: if bpm.is_some() { "meta" } else { "default" },
        tempo_changes: tempo.windows(2).any(|w| w[0].1 != w[1].1),
        time_signature: ts,
        bars: None,
        repairs: Repairs::default(),
    })
}

fn run_baseline(corpus: &Path, data: &Path) -> (u64, f64) {
    let t = Instant::now();
    std::fs::create_dir_all(data.join("objects")).expect("objects dir");
    let conn = sqlite::open_writer(&data.join("catalog.db")).expect("catalog");
    let paths: Vec<PathBuf> = walkdir::WalkDir::new(corpus)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("mid")))
        .map(|e| e.into_path())
        .collect();
    let seen = Mutex::new(HashSet::new());
    let objects = data.join("objects");
    let rows: Vec<_> = paths
        .par_iter()
        .map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let id = content_id(&bytes);
            if !seen.lock().expect("lock").insert(id) {
                return Some((id, bytes.len() as u64, None, p));
            }
            let facts = baseline_facts(&bytes)?;
            // The same analysis as ours (it is not what this benchmark compares): a fresh arena
            // per file, as plain code would.
            let analysis =
                midid::analysis::analyze(&bytes, &p.to_string_lossy(), facts.duration_ticks, &bumpalo::Bump::new());
            let facts = Described { facts, analysis };
            let hex = midid::dedupe::to_hex(&id);
            let tmp = objects.join(format!("{hex}.tmp"));
            std::fs::write(&tmp, &bytes).ok()?;
            std::fs::rename(&tmp, objects.join(format!("{hex}.mid"))).ok()?;
            Some((id, bytes.len() as u64, Some(facts), p))
        })
        .collect();
    // SAFETY: syncfs on an fd we own for the call.
    let dir = std::fs::File::open(&objects).expect("objects dir");
    unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
    let tx = conn.unchecked_transaction().expect("tx");
    for (id, size, facts, p) in rows.iter().flatten() {
        if let Some(f) = facts {
            sqlite::insert_file(&tx, id, *size, f, 1, None).expect("insert file");
        }
        let path = p.to_string_lossy();
        let name = p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        sqlite::insert_source_row(&tx, id, 1, &path, &name, None).expect("insert source");
    }
    tx.commit().expect("commit");
    (paths.len() as u64, t.elapsed().as_secs_f64())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` must not spend minutes here.
    if std::env::args().all(|a| a != "--bench") {
        println!("import benchmark: run with `cargo bench -p midid --bench import`");
        return;
    }
    let files = env_usize("MIDID_BENCH_FILES", 20_000);
    let rounds = env_usize("MIDID_BENCH_ROUNDS", 3);
    let root = bench_root();
    let corpus = make_corpus(&root, files);
    // Every run gets a fresh data dir and all are removed only at the end: deleting thousands of
    // inodes right before a run makes ext4's inode allocator skip "recently deleted" inodes,
    // which showed up as the top kernel symbol and drowned the difference being measured.
    let runs = root.join("runs");
    let _ = std::fs::remove_dir_all(&runs);
    let cold = drop_caches();
    println!(
        "corpus: {files} files (half exact duplicates), {} cores, page cache {}",
        num_cpus(),
        if cold { "dropped before each run" } else { "warm (not root)" }
    );
    println!(
        "{:<8} {:>10} {:>12} {:>10} {:>12} {:>8}",
        "round", "midid f/s", "baseline f/s", "ratio", "midid RSS", "files"
    );
    let mut ratios = Vec::new();
    let mut midid_rates = Vec::new();
    for r in 1..=rounds {
        drop_caches();
        let m = run_midid(&corpus, &runs.join(format!("midid-{r}")));
        drop_caches();
        let (bn, bs) = run_baseline(&corpus, &runs.join(format!("baseline-{r}")));
        let (mr, br) = (m.files as f64 / m.secs, bn as f64 / bs);
        ratios.push(mr / br);
        midid_rates.push(mr);
        println!("{r:<8} {mr:>10.0} {br:>12.0} {:>9.2}x {:>9} KB {:>8}", mr / br, m.max_rss_kb, m.files);
    }
    ratios.sort_by(f64::total_cmp);
    midid_rates.sort_by(f64::total_cmp);
    println!(
        "median: midid {:.0} files/s, {:.2}x the baseline",
        midid_rates[midid_rates.len() / 2],
        ratios[ratios.len() / 2]
    );

    // The same files packed into nested archives (a zip of zips, and a 7z), against the loose
    // files, alternately: the archive path's cost is the ratio of the two.
    let packed = make_packed(&root, &corpus, files);
    println!("{:<8} {:>10} {:>12} {:>10}", "round", "loose f/s", "packed f/s", "packed/loose");
    let mut packed_ratios = Vec::new();
    for r in 1..=rounds {
        drop_caches();
        let l = run_midid(&corpus, &runs.join(format!("loose-{r}")));
        drop_caches();
        let p = run_midid(&packed, &runs.join(format!("packed-{r}")));
        assert_eq!(p.files, l.files, "the packed corpus holds the same files");
        let (lr, pr) = (l.files as f64 / l.secs, p.files as f64 / p.secs);
        packed_ratios.push(pr / lr);
        println!("{r:<8} {lr:>10.0} {pr:>12.0} {:>11.0} %", pr / lr * 100.0);
    }
    packed_ratios.sort_by(f64::total_cmp);
    println!("median: packed at {:.0} % of loose files/s", packed_ratios[packed_ratios.len() / 2] * 100.0);

    // The library's per-file work, splitting songs into parts (each part hashed, analysed and
    // catalogued like a file) and the musical fingerprints of every file and part, against the
    // same pipeline without either, alternately.
    println!("{:<8} {:>10} {:>12} {:>10} {:>8}", "round", "library f/s", "without f/s", "ratio", "parts");
    let mut split_ratios = Vec::new();
    for r in 1..=rounds {
        drop_caches();
        let s = run_midid(&corpus, &runs.join(format!("library-{r}")));
        drop_caches();
        let n = run_midid_env(
            &corpus,
            &runs.join(format!("plain-{r}")),
            &[("MIDID_SPLIT", "false"), ("MIDID_FINGERPRINTS", "false")],
        );
        let (sr, nr) = (s.files as f64 / s.secs, n.files as f64 / n.secs);
        split_ratios.push(sr / nr);
        println!("{r:<8} {sr:>10.0} {nr:>12.0} {:>9.0} % {:>8}", sr / nr * 100.0, s.job["counts"]["parts"]);
    }
    split_ratios.sort_by(f64::total_cmp);
    println!(
        "median: with split and fingerprints at {:.0} % of files/s without",
        split_ratios[split_ratios.len() / 2] * 100.0
    );

    let big = env_usize("MIDID_BENCH_RSS_FILES", 0);
    if big > 0 {
        let big_corpus = make_corpus(&root, big);
        drop_caches();
        let small = run_midid(&corpus, &runs.join("rss-small"));
        drop_caches();
        let large = run_midid(&big_corpus, &runs.join("rss-large"));
        println!(
            "peak RSS: {} files {} KB, {} files {} KB ({:+.1} %); {:.0} and {:.0} files/s",
            small.files,
            small.max_rss_kb,
            large.files,
            large.max_rss_kb,
            (large.max_rss_kb as f64 / small.max_rss_kb as f64 - 1.0) * 100.0,
            small.files as f64 / small.secs,
            large.files as f64 / large.secs
        );
    }
    let _ = std::fs::remove_dir_all(&runs);
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
