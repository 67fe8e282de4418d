//! The PostgreSQL catalog's write paths side by side, in one run, on the same rows: the writer
//! as `midid` runs it (COPY BINARY straight into the catalog's tables, falling back to the merge
//! when a row is there already), the writer with every group merged (COPY BINARY into staging
//! tables, then `INSERT ... ON CONFLICT DO NOTHING`), raw COPY BINARY of the same rows into unindexed tables (the ceiling), and
//! multi-row `INSERT ... ON CONFLICT DO NOTHING` of 100 rows per statement (the usual way); then
//! `midid run` end to end into PostgreSQL against the embedded store, alternately.
//!
//! Rows are real: the generated corpus's files parsed and analysed once, then repeated under
//! distinct content ids and paths (`MIDID_BENCH_PG_ROWS` files, each with one source; 2 rows).
//! The server is `MIDID_BENCH_DATABASE_URL` (default the local one); every run writes into a
//! schema of its own, dropped after. Without a server the bench says so and stops.
//!
//! `MIDID_BENCH_ROUNDS=3 cargo bench -p midid --bench postgres`

// The corpus is generated here: reading it whole is the point, not an untrusted input.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use midid::catalog::postgres::{PgConn, PgWriter};
use midid::catalog::row::Op;
use midid::catalog::{Described, Source};
use midid::job::Job;

use common::{bench_root, drop_caches, env_usize, make_corpus, run_midid, run_midid_env};

/// Rows per group, as the writer commits them (`GROUP_ROWS`).
const GROUP: usize = 4096;

struct Schema {
    admin: PgConn,
    name: String,
    url: String,
}

impl Schema {
    fn new(base: &str, tag: &str) -> Schema {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("bench_{tag}_{nanos}");
        let admin = PgConn::connect(base).expect("connecting");
        admin.block_on(admin.client().batch_execute(&format!("CREATE SCHEMA {name}"))).expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}%2Cpublic");
        Schema { admin, name, url }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self.admin.block_on(self.admin.client().batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name)));
    }
}

fn main() {
    let base =
        std::env::var("MIDID_BENCH_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Err(e) = PgConn::connect(&base) {
        println!("skipped: no PostgreSQL at {} ({e})", midid::catalog::postgres::redact(&base));
        return;
    }
    let rounds = env_usize("MIDID_BENCH_ROUNDS", 3);
    let rows = env_usize("MIDID_BENCH_PG_ROWS", 100_000);
    let root = bench_root();
    let corpus = make_corpus(&root, env_usize("MIDID_BENCH_FILES", 20_000));

    // Parse and analyse a sample of the corpus once.
    let arena = bumpalo::Bump::new();
    let limits = midid::midi::MidiLimits::default();
    let mut described: Vec<(Vec<u8>, String, Described)> = Vec::new();
    for entry in walkdir::WalkDir::new(&corpus).into_iter().filter_map(Result::ok) {
        if described.len() >= 2000 || !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("reading corpus file");
        let path = entry.path().to_string_lossy().into_owned();
        if let Ok(facts) = midid::midi::parse(&bytes, &limits, &arena) {
            let analysis = midid::analysis::analyze(&bytes, &path, facts.duration_ticks, &arena);
            described.push((bytes, path, Described { facts, analysis }));
        }
    }
    assert!(!described.is_empty(), "no parsable files in the corpus");
    let job: Arc<Job> = Job::new(1, "import", vec![]);
    let ids: Vec<[u8; 16]> = (0..rows as u128).map(|i| (i * 0x9E37_79B9_7F4A_7C15 + 7).to_le_bytes()).collect();
    let sources: Vec<Source> = (0..rows)
        .map(|i| {
            let (_, path, _) = &described[i % described.len()];
            let name = format!("{i:07} {}", path.rsplit('/').next().unwrap_or("x.mid"));
            Source {
                job: Arc::clone(&job),
                path: format!("/bench/{i}/{name}"),
                clean_name: midid::library::sanitize::clean_name(&name),
                name,
                raw_name: None,
                tags: midid::analysis::tags::from_path(path).tags,
                part_of: None,
            }
        })
        .collect();
    let ops: Vec<Op<'_>> = (0..rows)
        .map(|i| {
            let (bytes, _, d) = &described[i % described.len()];
            Op::File { id: &ids[i], size: bytes.len() as u64, file: d, source: &sources[i] }
        })
        .collect();
    let catalog_rows = (rows * 2) as f64;
    println!("{rows} files with one source each ({} catalog rows) per run, groups of {GROUP}", rows * 2);

    let run = |tag: &str, f: &dyn Fn(&mut PgWriter, &[Op<'_>])| -> f64 {
        let schema = Schema::new(&base, tag);
        let mut conn = PgConn::connect(&schema.url).expect("connect");
        conn.migrate().expect("migrate");
        if let Ok(drop) = std::env::var("MIDID_BENCH_PG_DROP_INDEXES") {
            // Diagnosis: which indexes the write paths pay for.
            conn.block_on(conn.client().batch_execute(&format!("DROP INDEX {drop}"))).expect("dropping indexes");
        }
        let mut w = PgWriter::new(conn, "bench".into());
        let t = Instant::now();
        for group in ops.chunks(GROUP) {
            f(&mut w, group);
        }
        catalog_rows / t.elapsed().as_secs_f64()
    };
    println!(
        "{:<6} {:>14} {:>14} {:>14} {:>14} {:>11} {:>11}",
        "round", "writer rows/s", "merge rows/s", "raw rows/s", "insert rows/s", "writer/raw", "writer/ins"
    );
    let (mut to_raw, mut to_insert) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        // What `midid` does: new rows COPYed straight in, the merge only when rows are there.
        let writer = run("writer", &|w, g| {
            w.write_group(g).expect("writer");
        });
        // Every group through the staging tables and the merge.
        let merge = run("merge", &|w, g| {
            w.set_direct(false);
            w.write_group(g).expect("merge");
        });
        let raw = run("raw", &|w, g| w.copy_raw(g).expect("raw copy"));
        let insert = run("insert", &|w, g| w.insert_rows(g, 100).expect("insert"));
        to_raw.push(writer / raw);
        to_insert.push(writer / insert);
        println!(
            "{r:<6} {writer:>14.0} {merge:>14.0} {raw:>14.0} {insert:>14.0} {:>10.0} % {:>10.1}x",
            writer / raw * 100.0,
            writer / insert
        );
    }
    to_raw.sort_by(f64::total_cmp);
    to_insert.sort_by(f64::total_cmp);
    println!(
        "median: the writer's COPY (merge when needed) at {:.0} % of raw COPY, {:.1}x multi-row INSERT",
        to_raw[to_raw.len() / 2] * 100.0,
        to_insert[to_insert.len() / 2]
    );

    // End to end: the same corpus into PostgreSQL and into the embedded store, alternately.
    let runs = root.join("pg-runs");
    let _ = std::fs::remove_dir_all(&runs);
    println!("{:<6} {:>12} {:>14} {:>10}", "round", "pg files/s", "embedded f/s", "pg/emb");
    let mut e2e = Vec::new();
    for r in 1..=rounds {
        let schema = Schema::new(&base, "e2e");
        drop_caches();
        let p = run_midid_env(&corpus, &runs.join(format!("pg-{r}")), &[("MIDID_DATABASE", schema.url.as_str())]);
        drop_caches();
        let s = run_midid(&corpus, &runs.join(format!("sqlite-{r}")));
        assert_eq!(p.job["counts"]["imported"], s.job["counts"]["imported"], "both stores import the same files");
        let (pr, sr) = (p.files as f64 / p.secs, s.files as f64 / s.secs);
        e2e.push(pr / sr);
        println!("{r:<6} {pr:>12.0} {sr:>14.0} {:>9.0} %", pr / sr * 100.0);
    }
    e2e.sort_by(f64::total_cmp);
    println!(
        "median: midid run into PostgreSQL at {:.0} % of the embedded store's files/s",
        e2e[e2e.len() / 2] * 100.0
    );
    let _ = std::fs::remove_dir_all(&runs);
}
