//! The analysis stage alone, on one core: `score::gather` + every detector, on files from the
//! project's generator, timed apart from parsing (which is timed beside it for scale), and the
//! library's per-file work: the two musical fingerprints (tier 1 and the tier-3 shape, timed
//! as their own pass over gathered notes) and the split into parts.
//!
//! `cargo bench -p midid --bench analysis` (`MIDID_BENCH_FILES`, default 20,000). Prints files/s
//! for each; figures, never assertions.

use std::time::Instant;

use bumpalo::Bump;
use midid::analysis::{self, score};
use midid::gen::midi_bytes;
use midid::library::split;
use midid::midi::{parse, MidiLimits};

mod common;
use common::env_usize;

fn main() {
    if std::env::args().all(|a| a != "--bench") {
        println!("analysis benchmark: run with `cargo bench -p midid --bench analysis`");
        return;
    }
    let n = env_usize("MIDID_BENCH_FILES", 20_000);
    let files: Vec<Vec<u8>> = (0..n).map(|i| midi_bytes(i, 42 + i as u64 / 5)).collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let limits = MidiLimits::default();
    let mut arena = Bump::new();
    for round in 1..=3 {
        let t = Instant::now();
        let mut ends = Vec::with_capacity(n);
        for f in &files {
            arena.reset();
            ends.push(parse(f, &limits, &arena).map(|x| x.duration_ticks).unwrap_or(0));
        }
        let parse_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut keyed = 0usize;
        for (f, end) in files.iter().zip(&ends) {
            arena.reset();
            if let Some(a) = analysis::analyze(f, "/bench/Pack/Loop.mid", *end, &arena) {
                keyed += usize::from(a.key.is_some());
            }
        }
        let analysis_s = t.elapsed().as_secs_f64();
        // Gathering alone, then gathering plus both fingerprints: the difference is their cost.
        let t = Instant::now();
        for f in &files {
            arena.reset();
            std::hint::black_box(score::gather(f, &arena).map(|s| s.notes.len()));
        }
        let gather_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for f in &files {
            arena.reset();
            if let Some(s) = score::gather(f, &arena) {
                std::hint::black_box(analysis::fingerprints(&s, &[]));
            }
        }
        let fingerprints_us = (t.elapsed().as_secs_f64() - gather_s).max(0.0) / n as f64 * 1e6;
        let t = Instant::now();
        let mut parts = 0usize;
        for f in &files {
            parts += split::split(f).len();
        }
        let split_s = t.elapsed().as_secs_f64();
        // What a split costs a shard in all: the split, then each part hashed and described as
        // `midid` does it, from its parent's seeds (`score::PartSeeds`: score and facts made
        // from the parent's kept notes), per part; beside it the same parts read from their own
        // bytes (parse, gather, analyse), and a whole file's hash, parse and analysis, per file.
        let t = Instant::now();
        for f in &files {
            std::hint::black_box(describe(f, "/bench/Pack/Loop.mid", &limits, &mut arena));
        }
        let whole_us = t.elapsed().as_secs_f64() / n as f64 * 1e6;
        let part_path = "/bench/Pack/Loop.mid#Loop__01_bass.mid";
        // The seeds come from the parent's own gather, which the shard runs for the parent
        // anyway: made before the clock starts.
        let seeds: Vec<Option<score::PartSeeds>> = files
            .iter()
            .map(|f| score::gather_with(f, &Bump::new(), true).as_ref().and_then(score::PartSeeds::of))
            .collect();
        let t = Instant::now();
        let mut seeded = 0usize;
        for (f, seeds) in files.iter().zip(&seeds) {
            let parts = split::split(f);
            let Some(seeds) = seeds.as_ref().filter(|_| !parts.is_empty()) else { continue };
            for p in parts {
                seeded += 1;
                arena.reset();
                std::hint::black_box(midid::dedupe::content_id(&p.bytes));
                let Some(s) = seeds.score_of(p.track, p.channel, p.conductor_end, &arena) else { continue };
                let Ok(facts) = score::PartSeeds::facts_of(&s, p.events, &limits, &arena) else { continue };
                let a = analysis::analyze_with(&s, part_path, facts.duration_ticks, analysis::key::PROFILES_USED, true);
                std::hint::black_box(a.notes);
            }
        }
        let part_us = t.elapsed().as_secs_f64() / seeded.max(1) as f64 * 1e6;
        let t = Instant::now();
        for f in &files {
            for p in split::split(f) {
                std::hint::black_box(describe(&p.bytes, part_path, &limits, &mut arena));
            }
        }
        let part_bytes_us = t.elapsed().as_secs_f64() / parts.max(1) as f64 * 1e6;
        println!(
            "round {round}: {n} files ({:.1} MB): parse {:.0} files/s, analysis {:.0} files/s on one core \
             ({keyed} keyed); fingerprints {fingerprints_us:.2} us/file; split {:.0} files/s ({parts} parts); \
             a whole file {whole_us:.1} us; a part, its share of the split included, {part_us:.1} us \
             from its parent's seeds ({part_bytes_us:.1} us read from its own bytes)",
            bytes as f64 / 1e6,
            n as f64 / parse_s,
            n as f64 / analysis_s,
            n as f64 / split_s
        );
    }
}

/// What a shard does with one new content: hash, parse, analyse (fingerprints included).
fn describe(bytes: &[u8], path: &str, limits: &MidiLimits, arena: &mut Bump) -> Option<usize> {
    arena.reset();
    std::hint::black_box(midid::dedupe::content_id(bytes));
    let facts = parse(bytes, limits, arena).ok()?;
    analysis::analyze_import(bytes, path, facts.duration_ticks, arena, true).map(|a| a.notes as usize)
}
