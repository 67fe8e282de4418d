//! `midid eval`: the analysis measured against labelled files.
//!
//! Labels are CSV files in the shared corpus's format (`relative_path,key,tempo_bpm,
//! time_signature,has_drums,category,notes`, paths relative to the folder given). Each file goes
//! through the same `midi::parse` and `analysis::analyze` as an import; the report gives, per
//! field, accuracy against the labels: key exact and the MIREX weighted score (per subset, and
//! for files with and without key-signature events), BPM within 2 % (also allowing half and
//! double), drums precision/recall/F1, role accuracy with a confusion table, time signature.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bumpalo::Bump;
use serde::Serialize;

use crate::analysis::{self, key};
use crate::midi::{self, MidiLimits};

#[derive(Debug, Default, Serialize)]
pub struct KeyScore {
    pub files: u64,
    pub exact: u64,
    pub mirex: f64,
    pub fifth: u64,
    pub relative: u64,
    pub parallel: u64,
    pub other: u64,
}

impl KeyScore {
    fn add(&mut self, guess: Option<key::KeyGuess>, truth: key::KeyGuess) {
        self.files += 1;
        let s = guess.map_or(0.0, |g| key::mirex(g, truth));
        self.mirex += s;
        // Scores are the exact constants `key::mirex` returns.
        let tenths = (s * 10.0).round() as u8;
        match tenths {
            10 => self.exact += 1,
            5 => self.fifth += 1,
            3 => self.relative += 1,
            2 => self.parallel += 1,
            _ => self.other += 1,
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub files: u64,
    pub unreadable: u64,
    /// Per subset (first two path components) and for all files with / without key signatures.
    pub key: BTreeMap<String, KeyScore>,
    pub bpm_files: u64,
    pub bpm_within_2pct: u64,
    pub bpm_within_2pct_or_double: u64,
    /// Files whose BPM label the file's own tempo event carries (source `meta`).
    pub bpm_meta_files: u64,
    pub bpm_meta_within_2pct: u64,
    pub drums_tp: u64,
    pub drums_fp: u64,
    pub drums_fn: u64,
    pub drums_tn: u64,
    pub role_files: u64,
    pub role_correct: u64,
    /// label -> predicted -> count.
    pub role_confusion: BTreeMap<String, BTreeMap<String, u64>>,
    pub meter_files: u64,
    pub meter_correct: u64,
    /// Files analysed per second of analysis time (gather + detectors, not parsing or reading).
    pub analysis_files_per_s: f64,
    /// Files `library::split` made parts of, the parts, and the files whose parts' notes are not
    /// exactly the file's (the split's property, checked on real files).
    pub split_files: u64,
    pub split_parts: u64,
    pub split_notes_differ: Vec<String>,
}

struct Row {
    path: String,
    key: String,
    bpm: String,
    meter: String,
    drums: String,
    category: String,
}

fn read_labels(path: &Path) -> Result<Vec<Row>> {
    let mut rdr = csv::Reader::from_path(path).with_context(|| format!("opening labels {}", path.display()))?;
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("reading labels {}", path.display()))?;
        let f = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        out.push(Row { path: f(0), key: f(1), bpm: f(2), meter: f(3), drums: f(4), category: f(5) });
    }
    Ok(out)
}

/// Reads at most `cap` bytes of a file (the labelled sets are trusted, but the policy is one
/// way of reading everywhere).
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub fn run(labels: &[PathBuf], dir: &Path, key_profiles: u8) -> Result<Report> {
    let mut report = Report::default();
    let limits = MidiLimits::default();
    let mut arena = Bump::new();
    let mut analysis_time = 0.0f64;
    for l in labels {
        for row in read_labels(l)? {
            let path = dir.join(&row.path);
            let Ok(bytes) = read_capped(&path, 64 << 20) else {
                report.unreadable += 1;
                continue;
            };
            arena.reset();
            let Ok(facts) = midi::parse(&bytes, &limits, &arena) else {
                report.unreadable += 1;
                continue;
            };
            let t = std::time::Instant::now();
            let Some(score) = analysis::score::gather(&bytes, &arena) else {
                report.unreadable += 1;
                continue;
            };
            let a = analysis::analyze_with(&score, &row.path, facts.duration_ticks, key_profiles, true);
            analysis_time += t.elapsed().as_secs_f64();
            report.files += 1;
            score_row(&mut report, &row, &a, !score.key_sigs.is_empty());
            let parts = crate::library::split::split(&bytes);
            if !parts.is_empty() {
                report.split_files += 1;
                report.split_parts += parts.len() as u64;
                let mut want: Vec<_> = score.notes.iter().map(|n| (n.on, n.off, n.pitch, n.vel, n.ch)).collect();
                let part_arena = Bump::new();
                let mut got = Vec::with_capacity(want.len());
                for p in &parts {
                    if let Some(s) = analysis::score::gather(&p.bytes, &part_arena) {
                        got.extend(s.notes.iter().map(|n| (n.on, n.off, n.pitch, n.vel, n.ch)));
                    }
                }
                want.sort_unstable();
                got.sort_unstable();
                if want != got {
                    report.split_notes_differ.push(row.path.clone());
                }
            }
        }
    }
    if analysis_time > 0.0 {
        report.analysis_files_per_s = (report.files as f64 / analysis_time).round();
    }
    Ok(report)
}

fn score_row(report: &mut Report, row: &Row, a: &analysis::Analysis, has_keysig: bool) {
    if let Some(truth) = analysis::parse_key_label(&row.key) {
        let guess = a.tonic.zip(a.mode).map(|(tonic, m)| key::KeyGuess { tonic, minor: m == "minor" });
        // The set, and its sub-folder unless that is a per-song number (pop909/002).
        let parts: Vec<&str> = row.path.split('/').collect();
        let subset = match parts.as_slice() {
            [set, sub, _, ..] if !sub.starts_with(|c: char| c.is_ascii_digit()) => format!("{set}/{sub}"),
            [set, ..] => set.to_string(),
            [] => String::new(),
        };
        let sig = if has_keysig { "with key signatures" } else { "without key signatures" };
        report.key.entry(format!("{subset}, {sig}")).or_default().add(guess, truth);
        report.key.entry(format!("(all files {sig})")).or_default().add(guess, truth);
    }
    if let Ok(bpm) = row.bpm.parse::<f64>() {
        let within = |x: f64| ((x - bpm) / bpm).abs() <= 0.02;
        report.bpm_files += 1;
        if within(a.bpm) {
            report.bpm_within_2pct += 1;
        }
        if within(a.bpm) || within(a.bpm * 2.0) || within(a.bpm / 2.0) {
            report.bpm_within_2pct_or_double += 1;
        }
        if a.bpm_source == "meta" {
            report.bpm_meta_files += 1;
            if within(a.bpm) {
                report.bpm_meta_within_2pct += 1;
            }
        }
    }
    match (row.drums.as_str(), a.has_drums) {
        ("yes", true) => report.drums_tp += 1,
        ("yes", false) => report.drums_fn += 1,
        ("no", true) => report.drums_fp += 1,
        ("no", false) => report.drums_tn += 1,
        _ => {}
    }
    if matches!(row.category.as_str(), "drums" | "chords" | "melody") {
        report.role_files += 1;
        if a.role == row.category {
            report.role_correct += 1;
        }
        *report.role_confusion.entry(row.category.clone()).or_default().entry(a.role.to_string()).or_default() += 1;
    }
    if !row.meter.is_empty() {
        report.meter_files += 1;
        if a.time_signature == row.meter {
            report.meter_correct += 1;
        }
    }
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1} %", n as f64 * 100.0 / d as f64)
    }
}

pub fn print(r: &Report) {
    println!("files analysed: {} (unreadable or rejected: {})", r.files, r.unreadable);
    println!("\nkey                                        files  MIREX  exact  fifth  rel  par  other");
    for (k, s) in &r.key {
        println!(
            "{k:<42} {:>5}  {:.3}  {:>5}  {:>5}  {:>3}  {:>3}  {:>5}",
            s.files,
            s.mirex / s.files.max(1) as f64,
            pct(s.exact, s.files),
            s.fifth,
            s.relative,
            s.parallel,
            s.other
        );
    }
    println!(
        "\nbpm within 2 %: {} of {} ({}); allowing half/double: {}; files with a tempo event: {} of {} ({})",
        r.bpm_within_2pct,
        r.bpm_files,
        pct(r.bpm_within_2pct, r.bpm_files),
        pct(r.bpm_within_2pct_or_double, r.bpm_files),
        r.bpm_meta_within_2pct,
        r.bpm_meta_files,
        pct(r.bpm_meta_within_2pct, r.bpm_meta_files)
    );
    let p = r.drums_tp as f64 / (r.drums_tp + r.drums_fp).max(1) as f64;
    let rc = r.drums_tp as f64 / (r.drums_tp + r.drums_fn).max(1) as f64;
    let f1 = if p + rc > 0.0 { 2.0 * p * rc / (p + rc) } else { 0.0 };
    println!(
        "drums: precision {p:.3} recall {rc:.3} F1 {f1:.3} (tp {} fp {} fn {} tn {})",
        r.drums_tp, r.drums_fp, r.drums_fn, r.drums_tn
    );
    println!(
        "role (files labelled drums, chords, melody): {} of {} ({})",
        r.role_correct,
        r.role_files,
        pct(r.role_correct, r.role_files)
    );
    for (label, row) in &r.role_confusion {
        let cells: Vec<String> = row.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  {label:<8} -> {}", cells.join(", "));
    }
    println!("time signature: {} of {} ({})", r.meter_correct, r.meter_files, pct(r.meter_correct, r.meter_files));
    println!("analysis stage: {} files/s on one core", r.analysis_files_per_s);
    println!(
        "split: {} files into {} parts; parts' notes equal the file's in {} of {}{}",
        r.split_files,
        r.split_parts,
        r.split_files - r.split_notes_differ.len() as u64,
        r.split_files,
        r.split_notes_differ.first().map(|p| format!(" (first that differs: {p})")).unwrap_or_default()
    );
}
