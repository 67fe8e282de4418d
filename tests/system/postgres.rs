//! The PostgreSQL catalog end to end: migrations on an empty database and on one a version
//! behind, the query language answering alike on both stores over the same import, two daemons
//! importing overlapping trees into one catalog at once (and two writers deadlocking on the
//! same rows), a kill -9 mid-import followed by a restart and a re-import, connections cut, and
//! `gc`/`verify` reading the catalog there.
//!
//! Each test works in its own schema of the database `scripts/test.sh` prepares
//! (`MIDID_TEST_DATABASE_URL`), dropped afterwards. Without that variable the tests say so and
//! pass, except under CI, where they fail: the checks must run there, not be skipped.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use midictl::protocol::FileInfo;
use midid::catalog::postgres::{PgConn, MIGRATIONS};
use midid::gen::{generate, GenSpec};

use crate::harness::{age, path_str, Dir, OLD};

/// A schema of its own in the test database, dropped on drop.
struct Schema {
    admin: PgConn,
    name: String,
    /// The database URL with this schema first on the search path (pg_trgm stays in public).
    url: String,
}

impl Schema {
    fn new(tag: &str) -> Option<Schema> {
        let Ok(base) = std::env::var("MIDID_TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "MIDID_TEST_DATABASE_URL is not set: run the tests through scripts/test.sh, which prepares PostgreSQL"
            );
            eprintln!("skipping: MIDID_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
            return None;
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("t_{tag}_{}_{nanos}", std::process::id());
        let admin = PgConn::connect(&base).expect("connecting to the test database");
        // pg_trgm in public, once: otherwise the first migration installs it into its own
        // schema (the first on its search path), and dropping that schema would take it away
        // from every other test's indexes. Two tests racing here: the loser's error is harmless.
        let _ = admin.block_on(admin.client().batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"));
        admin.block_on(admin.client().batch_execute(&format!("CREATE SCHEMA {name}"))).expect("creating the schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}%2Cpublic");
        Some(Schema { admin, name, url })
    }

    fn exec(&self, sql: &str) {
        let sql = format!("SET search_path = {}, public; {sql}", self.name);
        self.admin.block_on(self.admin.client().batch_execute(&sql)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// One text column of every row, as a sorted set.
    fn set(&self, sql: &str) -> BTreeSet<String> {
        let sql = format!("SET search_path = {}, public; {sql}", self.name);
        let msgs = self.admin.block_on(self.admin.client().simple_query(&sql)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        msgs.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
                _ => None,
            })
            .collect()
    }

    fn count(&self, sql: &str) -> usize {
        self.set(&format!("SELECT count(*)::text FROM ({sql}) q"))
            .into_iter()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self.admin.block_on(self.admin.client().batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name)));
    }
}

/// What an import must leave, whichever store and however it got there: every distinct content
/// once, every place a whole file was found once, every part of every split song, every reject.
/// Parts are compared as (song, part) pairs: a part's path names the copy of its song that won the
/// claim, which is whichever was read first, and two daemons may each split their own copy.
#[derive(Debug, PartialEq)]
struct Catalog {
    files: BTreeSet<String>,
    sources: BTreeSet<String>,
    parts: BTreeSet<String>,
    rejects: BTreeSet<String>,
}

fn pg_catalog(s: &Schema) -> Catalog {
    Catalog {
        files: s.set("SELECT encode(hash, 'hex') FROM files"),
        sources: s.set("SELECT path || ' ' || encode(hash, 'hex') FROM sources WHERE parent IS NULL"),
        parts: s
            .set("SELECT encode(parent, 'hex') || ' ' || encode(hash, 'hex') FROM sources WHERE parent IS NOT NULL"),
        rejects: s.set("SELECT path || ' ' || reason FROM rejects"),
    }
}

fn sqlite_catalog(dir: &Dir) -> Catalog {
    let conn = dir.catalog();
    let set = |sql: &str| -> BTreeSet<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    };
    Catalog {
        files: set("SELECT lower(hex(hash)) FROM files"),
        sources: set("SELECT path || ' ' || lower(hex(hash)) FROM sources WHERE parent IS NULL"),
        parts: set("SELECT lower(hex(parent)) || ' ' || lower(hex(hash)) FROM sources WHERE parent IS NOT NULL"),
        rejects: set("SELECT path || ' ' || reason FROM rejects"),
    }
}

fn wait_done(dir: &Dir, job: &serde_json::Value) -> serde_json::Value {
    let id = job["id"].to_string();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let j = dir.ctl_json(&["status", &id, "--json"]);
        let j = j["jobs"].get(0).cloned().unwrap_or(j);
        if j["state"] != "running" && j["state"] != "queued" {
            return j;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {}", dir.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn postgres_migrations_apply_to_an_empty_database_and_to_one_a_version_behind() {
    let Some(empty) = Schema::new("mig_empty") else { return };
    let mut conn = PgConn::connect(&empty.url).unwrap();
    conn.migrate().unwrap();
    // Idempotent: a second start applies nothing and fails on nothing.
    conn.migrate().unwrap();
    let versions = empty.set("SELECT version::text FROM schema_migrations");
    assert_eq!(versions.len(), MIGRATIONS.len());
    let indexes =
        empty.set(&format!("SELECT indexname FROM pg_indexes WHERE schemaname = '{}' ORDER BY 1", empty.name));
    for want in
        ["files_hash_key", "files_key", "files_bpm", "files_role", "files_parent", "sources_tags", "sources_hash"]
    {
        assert!(indexes.contains(want), "index {want} missing: {indexes:?}");
    }

    // A catalog at the previous version, and one at version 1, each with rows: the newer
    // migrations apply, the rows stay, and a source written before `name_key` existed is found
    // by `name:` through it.
    let mut conn = None;
    let mut last = None;
    for at in [MIGRATIONS.len() - 1, 1] {
        let Some(old) = Schema::new(&format!("mig_v{at}")) else { return };
        old.exec("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied TEXT NOT NULL)");
        for (version, sql) in &MIGRATIONS[..at] {
            old.exec(sql);
            old.exec(&format!("INSERT INTO schema_migrations VALUES ({version}, 'then')"));
        }
        old.exec(
            "INSERT INTO files (hash, size, format, tracks, channels, notes, drum_notes, events, duration_ticks,
               duration_s, job) VALUES ('\\x07070707070707070707070707070707', 10, 0, 1, 1, 3, 0, 5, 96, 0.5, 1)",
        );
        old.exec(
            "INSERT INTO sources (hash, job, path, name, clean_name)
             VALUES ('\\x07070707070707070707070707070707', 1, '/x/Dark Kick.MID', 'Dark Kick.MID', 'Dark_Kick.mid')",
        );
        let mut c = PgConn::connect(&old.url).unwrap();
        c.migrate().unwrap();
        assert_eq!(
            old.set("SELECT max(version)::text FROM schema_migrations"),
            BTreeSet::from([MIGRATIONS.len().to_string()])
        );
        assert_eq!(old.count("SELECT 1 FROM files"), 1);
        assert!(old.count("SELECT 1 FROM pg_indexes WHERE indexname = 'files_bpm'") >= 1);
        assert_eq!(
            old.set("SELECT name_key FROM sources"),
            BTreeSet::from(["dark kick.mid\ndark_kick.mid".to_string()])
        );
        let reader = midid::catalog::pg_query::PgReader::open(&old.url).unwrap();
        for value in ["kick.mid", "dark_kick", "DARK KICK"] {
            let query = midid::catalog::lang::Query::parse(&[format!("name:{value}")], None).unwrap();
            assert_eq!(reader.search(&query, 10).unwrap().len(), 1, "name:{value}");
        }
        conn = Some(c);
        last = Some(old);
    }
    let Some(old) = last else { return };
    let Some(mut conn) = conn else { return };

    // A catalog newer than this binary is refused, not written.
    old.exec("INSERT INTO schema_migrations VALUES (999, 'future')");
    let err = conn.migrate().unwrap_err().to_string();
    assert!(err.contains("newer"), "{err}");
}

#[test]
fn both_stores_answer_every_query_alike_over_the_same_import() {
    let Some(schema) = Schema::new("parity") else { return };
    let mut sq = Dir::new();
    let corpus = sq.path("corpus");
    // No exact copies: a content's analysis reads its path, and which copy is seen first is a
    // race between shards; with one path per content both imports analyse the same words.
    generate(&corpus, &GenSpec { count: 300, duplicate_share: 0.0, damaged_share: 0.02, seed: 23 }).unwrap();
    sq.start_with(&["--shards", "1"]);
    let mut pg = Dir::new();
    pg.start_with(&["--shards", "1", "--database", &schema.url]);
    for d in [&sq, &pg] {
        let job = d.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
        assert_eq!(job["state"], "done", "{job:#}");
    }
    assert_eq!(pg_catalog(&schema), sqlite_catalog(&sq), "the two imports catalogued different rows");

    // The language's own test set, then what only a comparison of two stores needs: the whole
    // catalogue, dupes:hide alone, each kind of sort, and `name:` values only a clean name holds
    // (`_` for a space) or only a name holds (`.midi`), which PostgreSQL answers from one column.
    let extra: &[&[&str]] = &[
        &[],
        &["name:_"],
        &["name:.midi"],
        &["name:.mid"],
        &["dupes:hide"],
        &["--sort", "bpm"],
        &["--sort", "-key"],
        &["--sort", "name"],
        &["role:melody", "--sort", "-bars"],
    ];
    let queries: Vec<&[&str]> = crate::query::QUERIES.iter().chain(extra).copied().collect();
    let mut nonempty = 0;
    for q in &queries {
        let mut args = vec!["search"];
        args.extend(q.iter().copied());
        args.extend(["--limit", "20000", "--json"]);
        let a: Vec<FileInfo> = serde_json::from_value(sq.ctl_json(&args)).unwrap();
        let b: Vec<FileInfo> = serde_json::from_value(pg.ctl_json(&args)).unwrap();
        // The same files with the same values. Import order (the default order, and the tie
        // break of every sort) is the order rows reached the writer, which two imports need not
        // share; so the sets are compared, and a sort by the sequence of its key.
        // dupes:hide keeps the first-imported file of each group of the same notes: which one is
        // import order again, so it is compared by the group (the fingerprint) it stands for.
        let hide = q.contains(&"dupes:hide");
        let row = |f: &FileInfo| match (hide, &f.fingerprint) {
            (true, Some(fp)) => format!("group {fp}"),
            _ => format!("{} {:?} {:?} {:?} {:?}", f.hash, f.bpm, f.key, f.role, f.bars),
        };
        let set = |v: &[FileInfo]| v.iter().map(row).collect::<BTreeSet<String>>();
        let (sa, sb) = (set(&a), set(&b));
        assert!(
            sa == sb,
            "query {q:?}: {} rows only in SQLite, {} only in PostgreSQL: {:?}",
            sa.difference(&sb).count(),
            sb.difference(&sa).count(),
            sa.symmetric_difference(&sb).take(4).collect::<Vec<_>>()
        );
        if let Some(i) = q.iter().position(|t| *t == "--sort") {
            let by = q[i + 1].trim_start_matches('-');
            let key = |f: &FileInfo| match by {
                "bpm" => format!("{:?}", f.bpm),
                "key" => format!("{:?} {:?}", f.key_tonic, f.key_mode),
                "bars" => format!("{:?}", f.bars),
                _ => f.sources.iter().map(|s| s.name.to_ascii_lowercase()).min().unwrap_or_default(),
            };
            let (ka, kb): (Vec<String>, Vec<String>) = (a.iter().map(key).collect(), b.iter().map(key).collect());
            let first = ka.iter().zip(&kb).position(|(x, y)| x != y);
            assert!(first.is_none(), "query {q:?}: sorted differently from row {first:?}");
        }
        nonempty += usize::from(!a.is_empty());
    }
    assert!(nonempty >= queries.len() - 3, "too few queries selected anything ({nonempty})");

    // The rest of the read side reads the same too.
    let groups = |d: &Dir| -> BTreeSet<String> {
        let v = d.ctl_json(&["dupes", "--limit", "100000", "--json"]);
        let groups = v.as_array().cloned().unwrap_or_else(|| v["groups"].as_array().cloned().unwrap_or_default());
        groups.iter().map(|g| format!("{} {} {}", g["tier"], g["key"], g["count"])).collect()
    };
    assert_eq!(groups(&sq), groups(&pg), "dupes");
}

#[test]
fn two_daemons_importing_overlapping_trees_into_one_catalog_catalogue_each_content_once() {
    let Some(schema) = Schema::new("two") else { return };
    let mut one = Dir::new();
    let mut two = Dir::new();
    let corpus = one.path("corpus");
    generate(&corpus, &GenSpec { count: 1200, duplicate_share: 0.4, damaged_share: 0.02, seed: 31 }).unwrap();
    // Overlapping trees: the whole corpus on one side, the whole corpus and a copy of it on the
    // other, so both race for every content and the second also finds new places for each.
    let copy = two.path("copy");
    let out = std::process::Command::new("cp").arg("-r").arg(&corpus).arg(&copy).output().unwrap();
    assert!(out.status.success());
    one.start_with(&["--database", &schema.url]);
    two.start_with(&["--database", &schema.url]);
    let a = one.ctl_json(&["import", path_str(&corpus), "--json"]);
    let b = two.ctl_json(&["import", path_str(&copy), path_str(&corpus), "--json"]);
    assert_ne!(a["id"], b["id"], "two daemons handed out one job id");
    let (a, b) = (wait_done(&one, &a), wait_done(&two, &b));
    assert_eq!((a["state"].as_str(), b["state"].as_str()), (Some("done"), Some("done")), "{a:#}\n{b:#}");

    // The same trees imported by one daemon into the embedded store.
    let mut reference = Dir::new();
    reference.start();
    let r = reference.ctl_json(&["import", path_str(&copy), path_str(&corpus), "--wait", "--json"]);
    assert_eq!(r["state"], "done");
    let (got, want) = (pg_catalog(&schema), sqlite_catalog(&reference));
    assert_eq!(got.files.len(), want.files.len(), "distinct contents");
    assert_eq!(got, want);
    // And nothing twice: the unique keys hold, and every content is one row.
    assert_eq!(schema.count("SELECT hash FROM files GROUP BY hash HAVING count(*) > 1"), 0);
    assert_eq!(schema.count("SELECT 1 FROM sources GROUP BY path, hash HAVING count(*) > 1"), 0);
    // Every source names a catalogued content.
    assert_eq!(
        schema.count("SELECT 1 FROM sources s WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.hash = s.hash)"),
        0
    );
}

#[test]
fn kill_9_during_a_postgres_import_then_a_reimport_ends_as_an_uninterrupted_import() {
    let Some(cut) = Schema::new("cut") else { return };
    let Some(whole) = Schema::new("whole") else { return };
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: 4000, duplicate_share: 0.3, damaged_share: 0.02, seed: 41 }).unwrap();

    dir.start_with(&["--database", &cut.url]);
    let job = dir.ctl_json(&["import", path_str(&corpus), "--json"]);
    // Cut once some groups have committed and more are on their way.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = dir.ctl_json(&["status", &job["id"].to_string(), "--json"]);
        let j = j["jobs"].get(0).cloned().unwrap_or(j);
        let cataloged = j["counts"]["cataloged"].as_u64().unwrap_or(0);
        if cataloged > 200 || j["state"] != "running" || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut child = dir.daemon.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let before = cut.count("SELECT 1 FROM files");

    dir.start_with(&["--database", &cut.url]);
    let again = dir.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(again["state"], "done", "{again:#}");
    // The cut job is closed as failed by the restarted daemon, not left running.
    let jobs = dir.ctl_json(&["jobs", "--json"]);
    let jobs = jobs.as_array().cloned().unwrap_or_else(|| jobs["jobs"].as_array().cloned().unwrap_or_default());
    let first = jobs.iter().find(|j| j["id"] == job["id"]).unwrap();
    assert_ne!(first["state"], "running", "{first:#}");

    let mut clean = Dir::new();
    clean.start_with(&["--database", &whole.url]);
    let j = clean.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(j["state"], "done");
    let (got, want) = (pg_catalog(&cut), pg_catalog(&whole));
    assert!(before < want.files.len(), "the kill came after the import had finished ({before} rows)");
    assert_eq!(got, want);
    assert_eq!(cut.count("SELECT hash FROM files GROUP BY hash HAVING count(*) > 1"), 0);
    assert_eq!(cut.count("SELECT 1 FROM sources GROUP BY path, hash HAVING count(*) > 1"), 0);
}

#[test]
fn the_writer_and_the_readers_reconnect_when_the_server_drops_them_mid_import() {
    let Some(schema) = Schema::new("drop") else { return };
    // Only this daemon's connections are cut: other tests share the database.
    let app = format!("midid_{}", schema.name);
    let url = format!("{}&application_name={app}", schema.url);
    let mut dir = Dir::new();
    let corpus = dir.path("corpus");
    generate(&corpus, &GenSpec { count: 3000, duplicate_share: 0.3, damaged_share: 0.02, seed: 53 }).unwrap();
    dir.start_with(&["--database", &url]);
    let job = dir.ctl_json(&["import", path_str(&corpus), "--json"]);
    let id = job["id"].to_string();
    let mut cuts = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    let done = loop {
        let j = dir.ctl_json(&["status", &id, "--json"]);
        let j = j["jobs"].get(0).cloned().unwrap_or(j);
        if j["state"] != "running" && j["state"] != "queued" {
            break j;
        }
        let cataloged = j["counts"]["cataloged"].as_u64().unwrap_or(0);
        if cuts < 2 && cataloged > 100 * (cuts + 1) {
            let cut = schema.set(&format!(
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE application_name = '{app}'"
            ));
            // A moment between a cut and the reconnect finds nothing to cut: try again.
            if cut.contains("true") {
                cuts += 1;
            }
        }
        assert!(Instant::now() < deadline, "the import did not finish: {}", dir.log());
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(done["state"], "done", "{done:#}\n{}", dir.log());
    assert!(cuts >= 1, "the import finished before the first cut");
    assert!(dir.log().contains("reconnecting"), "the writer never saw its connection go: {}", dir.log());
    // The query connection was cut too; the next search reconnects.
    let found = dir.ctl_json(&["search", "--limit", "5", "--json"]);
    assert_eq!(found.as_array().map(Vec::len), Some(5));

    let mut reference = Dir::new();
    reference.start();
    let r = reference.ctl_json(&["import", path_str(&corpus), "--wait", "--json"]);
    assert_eq!(r["state"], "done");
    assert_eq!(pg_catalog(&schema), sqlite_catalog(&reference), "rows lost or doubled across the cuts");
}

/// Regression: two daemons merging groups that hold the same new contents in different orders
/// can deadlock (each waits on the other's uncommitted row); the server aborts one, and that
/// writer's group failed and took its job with it. It must run the group again instead.
#[test]
fn two_writers_merging_the_same_rows_in_opposite_orders_both_commit() {
    // Merging every group (the fallback's race), and the direct path racing the other writer.
    for direct in [false, true] {
        opposite_orders(direct);
    }
}

fn opposite_orders(direct: bool) {
    use midid::catalog::postgres::PgWriter;
    use midid::catalog::row::Op;
    use midid::catalog::Source;

    let Some(schema) = Schema::new("deadlock") else { return };
    PgConn::connect(&schema.url).unwrap().migrate().unwrap();
    let (described, job) = writer_fixture();
    const ROUNDS: usize = 4;
    const ROWS: usize = 3000;
    let ids: Vec<[u8; 16]> =
        (0..ROUNDS * ROWS).map(|i| (i as u128 * 0x9E37_79B9_7F4A_7C15 + 11).to_le_bytes()).collect();
    let sources: Vec<Source> = (0..ROUNDS * ROWS)
        .map(|i| Source {
            job: std::sync::Arc::clone(&job),
            path: format!("/d/{i}.mid"),
            name: format!("{i}.mid"),
            raw_name: None,
            clean_name: format!("{i}.mid"),
            tags: Vec::new(),
            part_of: None,
        })
        .collect();
    let barrier = std::sync::Barrier::new(2);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for reversed in [false, true] {
            let (ids, sources, described, barrier, failed, url) =
                (&ids, &sources, &described, &barrier, &failed, &schema.url);
            scope.spawn(move || {
                let mut w = PgWriter::new(PgConn::connect(url).unwrap(), format!("writer-{reversed}"));
                w.set_direct(direct);
                for round in 0..ROUNDS {
                    let mut ops: Vec<Op<'_>> = (round * ROWS..(round + 1) * ROWS)
                        .map(|i| Op::File { id: &ids[i], size: 1, file: described, source: &sources[i] })
                        .collect();
                    if reversed {
                        ops.reverse();
                    }
                    // Both writers start each round together; a failure is recorded, not
                    // raised, so the other writer never waits here alone.
                    barrier.wait();
                    if let Err(e) = w.write_group(&ops) {
                        failed.lock().unwrap().push(format!("round {round}, reversed {reversed}: {e}"));
                    }
                }
            });
        }
    });
    assert_eq!(failed.into_inner().unwrap(), Vec::<String>::new());
    assert_eq!(schema.count("SELECT 1 FROM files"), ROUNDS * ROWS);
    assert_eq!(schema.count("SELECT 1 FROM sources"), ROUNDS * ROWS);
}

/// The writer COPYs a group of new rows straight into the catalog's tables and falls back to the
/// merge when a row is there already. A replayed group must change nothing, a content first
/// catalogued as a part must become a whole file when found whole (on either path), and the
/// tags must arrive as the merge writes them.
#[test]
fn a_replayed_group_changes_nothing_and_a_part_found_whole_stops_being_a_part() {
    use midid::catalog::postgres::PgWriter;
    use midid::catalog::row::Op;
    use midid::catalog::{PartOf, Source};

    let Some(schema) = Schema::new("direct") else { return };
    PgConn::connect(&schema.url).unwrap().migrate().unwrap();
    let (described, job) = writer_fixture();
    let ids: Vec<[u8; 16]> = (0..6u128).map(|i| (i * 0x9E37_79B9_7F4A_7C15 + 3).to_le_bytes()).collect();
    let source = |path: &str, part_of: Option<PartOf>| Source {
        job: std::sync::Arc::clone(&job),
        path: path.to_string(),
        name: path.rsplit('/').next().unwrap_or(path).to_string(),
        raw_name: Some(b"raw\xff".to_vec().into()),
        clean_name: "clean.mid".into(),
        tags: vec!["trap".into(), "bass".into()],
        part_of,
    };
    let part = |n: u16| Some(PartOf { parent: ids[0], index: n, track: n, channel: None });
    let sources: Vec<Source> =
        (0..6).map(|i| source(&format!("/d/{i}.mid"), if i == 2 || i == 3 { part(i as u16) } else { None })).collect();
    let group: Vec<Op<'_>> =
        (0..4).map(|i| Op::File { id: &ids[i], size: 1, file: &described, source: &sources[i] }).collect();
    let catalog = || {
        (
            schema.set("SELECT encode(hash, 'hex') || ' ' || coalesce(encode(parent, 'hex'), '-') FROM files"),
            schema.set(
                "SELECT path || ' ' || encode(hash, 'hex') || ' ' || tags::text || ' ' || encode(raw_name, 'hex')
                   || ' ' || name_key || ' ' || coalesce(encode(parent, 'hex'), '-') FROM sources",
            ),
        )
    };

    // Into an empty catalog (the direct path), then the same group again (the fallback).
    let mut w = PgWriter::new(PgConn::connect(&schema.url).unwrap(), "direct".into());
    assert_eq!(w.write_group(&group).unwrap().new_files.len(), 4);
    assert_eq!(w.direct_groups(), 1, "new rows go in directly");
    let first = catalog();
    assert_eq!(first.0.len(), 4);
    assert!(first.1.iter().all(|s| s.contains(r#"["trap", "bass"]"#) && s.contains(" 726177ff ")), "{first:?}");
    assert!(w.write_group(&group).unwrap().new_files.is_empty(), "a replayed group inserts no file");
    assert_eq!(w.direct_groups(), 1, "a replayed group is merged");
    assert_eq!(catalog(), first, "a replayed group changes nothing");
    let mut fresh = PgWriter::new(PgConn::connect(&schema.url).unwrap(), "fresh".into());
    assert!(fresh.write_group(&group).unwrap().new_files.is_empty(), "a new writer's first group falls back");
    assert_eq!(fresh.direct_groups(), 0);
    assert_eq!(catalog(), first);

    // The same rows merged from the start, into a schema of their own, come out the same.
    let Some(merged) = Schema::new("merged") else { return };
    PgConn::connect(&merged.url).unwrap().migrate().unwrap();
    let mut m = PgWriter::new(PgConn::connect(&merged.url).unwrap(), "merged".into());
    m.set_direct(false);
    m.write_group(&group).unwrap();
    assert_eq!(m.direct_groups(), 0);
    let ordered = "SELECT string_agg(path || ' ' || encode(hash, 'hex') || ' ' || tags::text || ' '
        || encode(raw_name, 'hex') || ' ' || name_key || ' ' || coalesce(encode(parent, 'hex'), '-'), ',' ORDER BY id)
        FROM sources";
    assert_eq!(merged.set(ordered), schema.set(ordered), "the direct path writes what the merge writes, in its order");
    let files = "SELECT string_agg(encode(hash, 'hex') || ' ' || coalesce(encode(parent, 'hex'), '-') || ' '
        || coalesce(part_index::text, '-'), ',' ORDER BY id) FROM files";
    assert_eq!(merged.set(files), schema.set(files));

    // Part 2 found whole on the direct path (a writer whose last group met nothing), part 3 on
    // the merge path (the writer above, whose last group met rows already there).
    let whole2 = source("/e/two.mid", None);
    let whole3 = source("/e/three.mid", None);
    let mut direct = PgWriter::new(PgConn::connect(&schema.url).unwrap(), "again".into());
    direct
        .write_group(&[
            Op::File { id: &ids[4], size: 1, file: &described, source: &sources[4] },
            Op::Source { id: &ids[2], source: &whole2 },
        ])
        .unwrap();
    assert_eq!(direct.direct_groups(), 1);
    w.write_group(&[
        Op::File { id: &ids[5], size: 1, file: &described, source: &sources[5] },
        Op::Source { id: &ids[3], source: &whole3 },
    ])
    .unwrap();
    assert_eq!(w.direct_groups(), 1, "after a replay the writer merges");
    let parents = schema.set("SELECT encode(hash, 'hex') FROM files WHERE parent IS NOT NULL");
    assert!(parents.is_empty(), "contents found whole are parts no more: {parents:?}");
    assert_eq!(schema.count("SELECT 1 FROM files"), 6);
    assert_eq!(schema.count("SELECT 1 FROM sources"), 8);
}

/// What the writer tests' rows describe (one generated file, no analysis) and the job they are in.
fn writer_fixture() -> (midid::catalog::Described, std::sync::Arc<midid::job::Job>) {
    let arena = bumpalo::Bump::new();
    let bytes = midid::gen::midi_bytes(1, 5);
    let facts = midid::midi::parse(&bytes, &midid::midi::MidiLimits::default(), &arena).unwrap();
    (midid::catalog::Described { facts, analysis: None }, midid::job::Job::new(1, "import", vec![]))
}

/// gc and verify on a PostgreSQL catalog: gc removes only the stray, and keeps a split song's
/// object (its parts' bytes) and an object only another daemon's row names; verify finds the
/// store clean, then a rotten object, and exits 1.
#[test]
fn gc_and_verify_read_a_postgres_catalog() {
    let Some(schema) = Schema::new("hygiene") else { return };
    let mut one = Dir::new();
    let mut two = Dir::new();
    let song = midid::gen::midi_bytes(4, 78);
    let parts = midid::library::split::split(&song).len();
    assert!(parts >= 2, "a generated song has parts");
    let single = midid::gen::midi_bytes(1, 12);
    let theirs = midid::gen::midi_bytes(1, 13);
    one.write("in/Song.mid", &song);
    one.write("in/Single.mid", &single);
    two.write("in/Theirs.mid", &theirs);
    one.start_with(&["--database", &schema.url]);
    two.start_with(&["--database", &schema.url]);
    let a = one.ctl_json(&["import", path_str(&one.path("in")), "--wait", "--json"]);
    let b = two.ctl_json(&["import", path_str(&two.path("in")), "--wait", "--json"]);
    assert_eq!((a["state"].as_str(), b["state"].as_str()), (Some("done"), Some("done")), "{a:#}\n{b:#}");
    assert_eq!(a["counts"]["parts"], parts as u64, "{a:#}");
    let hex = |bytes: &[u8]| midid::dedupe::to_hex(&midid::dedupe::content_id(bytes));

    // The song's own row and sources go (by hand), so only its parts' rows name its object:
    // gc must find it through the parents' range.
    let song_hex = hex(&song);
    schema.exec(&format!(
        "DELETE FROM sources WHERE hash = '\\x{song_hex}'::bytea; DELETE FROM files WHERE hash = '\\x{song_hex}'::bytea"
    ));
    assert_eq!(schema.count(&format!("SELECT 1 FROM files WHERE parent = '\\x{song_hex}'::bytea")), parts);
    // Everything old enough to collect: the catalogued objects, an object only the other
    // daemon's row names, and a stray no row names.
    for bytes in [&song, &single] {
        age(&one.object_path(&hex(bytes)), OLD);
    }
    let theirs_here = one.plant(&theirs, OLD);
    let stray = one.plant(b"MThd stray bytes no row names", OLD);
    let gc = one.ctl_json(&["gc", "--json"]);
    assert_eq!(gc["removed"], 1, "{gc:#}");
    // Kept because the catalog named them, not because this daemon's index knows them.
    assert_eq!((gc["referenced"].as_u64(), gc["kept_pending"].as_u64()), (Some(3), Some(0)), "{gc:#}");
    assert_eq!(gc["paths"][0], path_str(&stray), "{gc:#}");
    assert!(!stray.exists());
    for bytes in [&song, &single] {
        assert!(one.object_path(&hex(bytes)).exists(), "gc kept a catalogued object");
    }
    assert!(theirs_here.exists(), "gc kept an object another daemon's row names");

    let (code, clean) = one.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(0), "{clean:#}");
    assert_eq!(clean["problems"], 0, "{clean:#}");
    // Three objects are needed (the song as its parts' parent, the single, theirs); parts
    // need none.
    assert_eq!(clean["catalogued"], 3, "{clean:#}");
    assert_eq!(clean["objects"], 3, "{clean:#}");

    std::fs::write(one.object_path(&hex(&single)), b"not what the name says").expect("rot");
    let (code, rotten) = one.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(1), "{rotten:#}");
    assert_eq!(rotten["mismatched"][0]["expected"], hex(&single).as_str(), "{rotten:#}");
    // The other daemon's store lacks the first one's contents, and says so.
    let (code, other) = two.ctl_json_exit(&["verify", "--json"]);
    assert_eq!(code, Some(1), "{other:#}");
    let missing: BTreeSet<&str> =
        other["missing"].as_array().into_iter().flatten().filter_map(|m| m["hash"].as_str()).collect();
    assert_eq!(missing, BTreeSet::from([hex(&song).as_str(), hex(&single).as_str()]), "{other:#}");
}
