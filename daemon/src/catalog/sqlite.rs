//! The embedded store: SQLite (bundled), WAL, schema from `migrations/sqlite/`.
//!
//! Migrations are embedded at compile time and applied at open, in order, each in its own
//! transaction, recorded in `schema_migrations`; a catalog newer than the binary is refused
//! rather than written with a schema it does not know.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::row::{tags_json, to_json, FileRow, Op, Outcome};
use super::{CatalogError, Described, PartOf};
use crate::dedupe::ContentId;
use crate::job::Job;

pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_archives.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_analysis.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_library.sql")),
    (5, include_str!("../../../migrations/sqlite/0005_exports.sql")),
];

fn sq<'a>(op: &'static str, path: &'a Path) -> impl Fn(rusqlite::Error) -> CatalogError + 'a {
    move |source| CatalogError::Sqlite { op, path: path.display().to_string(), source }
}

/// Opens the writer's connection, applying migrations.
pub fn open_writer(path: &Path) -> Result<Connection, CatalogError> {
    let conn = Connection::open(path).map_err(sq("opening", path))?;
    // FULL: a committed batch survives power loss. It costs one WAL fsync per group commit, and
    // the writer groups thousands of rows per commit, so the price is small.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;
         PRAGMA cache_size=-2048; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=5000;",
    )
    .map_err(sq("configuring", path))?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Opens a read-only connection for queries.
pub fn open_reader(path: &Path) -> Result<Connection, CatalogError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sq("opening for reading", path))?;
    conn.execute_batch("PRAGMA busy_timeout=5000; PRAGMA cache_size=-4096;").map_err(sq("configuring", path))?;
    Ok(conn)
}

pub fn migrate(conn: &Connection, path: &Path) -> Result<(), CatalogError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)",
    )
    .map_err(sq("creating schema_migrations", path))?;
    let current: i64 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .map_err(sq("reading schema version", path))?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(CatalogError::TooNew { path: path.display().to_string(), found: current, known });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.unchecked_transaction().map_err(sq("starting migration", path))?;
        tx.execute_batch(sql).map_err(sq("applying migration", path))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied) VALUES (?1, ?2)",
            params![version, crate::job::now_rfc3339()],
        )
        .map_err(sq("recording migration", path))?;
        tx.commit().map_err(sq("committing migration", path))?;
    }
    Ok(())
}

/// Loads every catalogued content id (for the dedupe index) and the next job id.
/// `each` gets every file id (false) and every walked archive id (true).
pub fn load_ids(conn: &Connection, path: &Path, mut each: impl FnMut(ContentId, bool)) -> Result<u64, CatalogError> {
    let mut stmt = conn.prepare("SELECT hash FROM files").map_err(sq("loading ids", path))?;
    let mut rows = stmt.query([]).map_err(sq("loading ids", path))?;
    while let Some(row) = rows.next().map_err(sq("loading ids", path))? {
        let blob: Vec<u8> = row.get(0).map_err(sq("loading ids", path))?;
        if let Ok(id) = <ContentId>::try_from(blob.as_slice()) {
            each(id, false);
        }
    }
    // Archives walked to the end: seeing one again costs one hash.
    let mut stmt = conn.prepare("SELECT hash FROM archives").map_err(sq("loading archive ids", path))?;
    let mut rows = stmt.query([]).map_err(sq("loading archive ids", path))?;
    while let Some(row) = rows.next().map_err(sq("loading archive ids", path))? {
        let blob: Vec<u8> = row.get(0).map_err(sq("loading archive ids", path))?;
        if let Ok(id) = <ContentId>::try_from(blob.as_slice()) {
            each(id, true);
        }
    }
    let max: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM jobs", [], |r| r.get(0))
        .map_err(sq("reading job ids", path))?;
    Ok(max as u64 + 1)
}

/// Jobs a previous daemon left running died with it.
pub fn fail_orphaned_jobs(conn: &Connection, path: &Path) -> Result<usize, CatalogError> {
    conn.execute(
        "UPDATE jobs SET state = 'failed', note = 'daemon stopped before the job finished', finished = ?1
         WHERE state IN ('queued', 'running')",
        params![crate::job::now_rfc3339()],
    )
    .map_err(sq("closing orphaned jobs", path))
}

/// Records a fully walked archive. Returns false when it was recorded before.
pub fn insert_archive(
    conn: &Connection,
    id: &ContentId,
    size: u64,
    job: u64,
    path: &str,
    members: u64,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO archives (hash, size, job, path, members) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![&id[..], size as i64, job as i64, path, members as i64])?;
    Ok(n == 1)
}

/// Whether the catalog holds a content (the writer confirms prefix matches with this).
pub fn has_file(conn: &Connection, id: &ContentId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM files WHERE hash = ?1")?.exists(params![&id[..]])
}

/// Whether a row needs `id`'s object: a row of that content, or a part split from it (a part's
/// bytes are made again from its parent's object). For `gc`'s last look before an unlink.
pub fn names_object(conn: &Connection, id: &ContentId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM files WHERE hash = ?1 OR parent = ?1")?.exists(params![&id[..]])
}

/// The half-open range of 16-byte ids whose first byte is `prefix`, as blobs (both stores compare
/// them bytewise): `[prefix]` up to `[prefix + 1]`, or, after `ff`, the 17-byte blob of 0xff that
/// every 16-byte id is below.
pub fn prefix_bounds(prefix: u8) -> (Vec<u8>, Vec<u8>) {
    let high = match prefix.checked_add(1) {
        Some(next) => vec![next],
        None => vec![0xff; 17],
    };
    (vec![prefix], high)
}

/// The ids whose first byte is `prefix` that the catalog names objects by: one fan-out folder's
/// worth, so `hygiene` holds 1/256 of the catalog's ids at a time. Each comes with whether its
/// object must exist: a whole file's and a parent's must; a part's need not (it is made from its
/// parent's), but one written by an older version is still the catalog's. Ranges on the unique
/// index and on `files_parent`: a blob compares bytewise, and a 16-byte id is below the 17-byte
/// blob of 0xff, the bound after `ff`.
pub fn object_ids_with_prefix(conn: &Connection, prefix: u8) -> rusqlite::Result<Vec<(ContentId, bool)>> {
    let (low, high) = prefix_bounds(prefix);
    let mut stmt = conn.prepare_cached(
        "SELECT hash, parent IS NULL FROM files WHERE hash >= ?1 AND hash < ?2
         UNION ALL SELECT DISTINCT parent, 1 FROM files WHERE parent >= ?1 AND parent < ?2",
    )?;
    let rows = stmt.query_map(params![&low[..], &high[..]], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?)))?;
    let mut ids = Vec::new();
    for row in rows {
        let (blob, required) = row?;
        // A hash that is not 16 bytes names no object; nothing to keep or check for it.
        if let Ok(id) = <ContentId>::try_from(blob.as_slice()) {
            ids.push((id, required));
        }
    }
    Ok(ids)
}

pub fn insert_file(
    conn: &Connection,
    id: &ContentId,
    size: u64,
    d: &Described,
    job: u64,
    part_of: Option<&PartOf>,
) -> rusqlite::Result<bool> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT OR IGNORE INTO files ({}) VALUES ({})",
            FileRow::COLUMNS,
            (1..=FileRow::COUNT).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
        )
    });
    let r = FileRow::of(id, size, d, job, part_of);
    let n = conn.prepare_cached(&SQL)?.execute(params![
        r.hash,
        r.size,
        r.format,
        r.ppq,
        r.smpte_fps,
        r.tracks,
        r.channels,
        r.notes,
        r.drum_notes,
        r.events,
        r.duration_ticks,
        r.duration_s,
        r.bars,
        r.bpm,
        r.bpm_source,
        r.tempo_changes,
        r.time_signature,
        r.has_drums,
        r.repairs,
        r.job,
        r.analysis_version,
        r.bpm_initial,
        r.bpm_weighted,
        r.bpm_confidence,
        r.key,
        r.key_tonic,
        r.key_mode,
        r.key_confidence,
        r.key_source,
        r.key_runner_up,
        r.meter_source,
        r.is_loop,
        r.loop_bars,
        r.repeat_bars,
        r.quantized,
        r.drum_parts,
        r.drum_dominant,
        r.drum_shares,
        r.role,
        r.role_confidence,
        r.parts,
        r.chords,
        r.pitch_min,
        r.pitch_max,
        r.polyphony_mean,
        r.polyphony_max,
        r.density,
        r.velocity_min,
        r.velocity_max,
        r.fingerprint,
        r.shape,
        r.parent,
        r.part_index,
        r.part_track,
        r.part_channel,
    ])?;
    Ok(n == 1)
}

/// Applies a group's writes in order, in one transaction.
pub fn write_group(conn: &Connection, ops: &[Op<'_>]) -> rusqlite::Result<Outcome> {
    let mut out = Outcome::default();
    let tx = conn.unchecked_transaction()?;
    for op in ops {
        match op {
            Op::File { id, size, file, source } => {
                let new = insert_file(&tx, id, *size, file, source.job.id, source.part_of.as_ref())?;
                insert_source(&tx, id, source, new && source.part_of.is_none())?;
                if new {
                    out.new_files.insert(**id);
                }
            }
            Op::Source { id, source } => {
                insert_source(&tx, id, source, false)?;
            }
            Op::Checked { id, source } => {
                if has_file(&tx, id)? {
                    insert_source(&tx, id, source, false)?;
                } else {
                    out.missing.insert(**id);
                }
            }
            Op::Reject { job, path, reason, detail } => upsert_reject(&tx, *job, path, reason, detail)?,
            Op::Archive { id, size, job, path, members } => {
                insert_archive(&tx, id, *size, *job, path, *members)?;
            }
        }
    }
    tx.commit()?;
    Ok(out)
}

/// `whole_row` says the content's row was just inserted as a whole file, so there is no part
/// link to clear (the writer knows it, and skipping the lookup saves a statement per new file).
pub fn insert_source(
    conn: &Connection,
    id: &ContentId,
    s: &crate::catalog::Source,
    whole_row: bool,
) -> rusqlite::Result<bool> {
    let tags = tags_json(s);
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO sources (hash, job, path, name, raw_name, clean_name, tags, parent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            &id[..],
            s.job.id as i64,
            s.path,
            s.name,
            s.raw_name.as_deref(),
            s.clean_name,
            tags,
            s.part_of.as_ref().map(|p| &p.parent[..]),
        ])?;
    // A content is a part only while every place it was found is a part: a file found on its
    // own (an exported part imported back, say) makes its row a whole file, whichever came first.
    if n == 1 && s.part_of.is_none() && !whole_row {
        conn.prepare_cached(
            "UPDATE files SET parent = NULL, part_index = NULL, part_track = NULL, part_channel = NULL
             WHERE hash = ?1 AND parent IS NOT NULL",
        )?
        .execute(params![&id[..]])?;
    }
    Ok(n == 1)
}

/// The same row from plain values (the benchmark's baseline writes through this).
pub fn insert_source_row(
    conn: &Connection,
    id: &ContentId,
    job: u64,
    path: &str,
    name: &str,
    raw_name: Option<&[u8]>,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO sources (hash, job, path, name, raw_name) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![&id[..], job as i64, path, name, raw_name])?;
    Ok(n == 1)
}

pub fn upsert_reject(conn: &Connection, job: u64, path: &str, reason: &str, detail: &str) -> rusqlite::Result<()> {
    // One row per (path, reason): re-importing the same bad file moves it to the newer job
    // instead of adding a row each time.
    conn.prepare_cached(
        "INSERT INTO rejects (job, path, reason, detail) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (path, reason) DO UPDATE SET job = excluded.job, detail = excluded.detail",
    )?
    .execute(params![job as i64, path, reason, detail])?;
    Ok(())
}

/// An export's files: (absolute path on the drive, content). The latest export of a path wins.
pub fn upsert_exports(
    conn: &Connection,
    job: u64,
    target: &str,
    files: &[crate::catalog::ExportedFile],
) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO exports (dest, job, target, hash) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (dest) DO UPDATE SET job = excluded.job, target = excluded.target, hash = excluded.hash",
        )?;
        for (path, id) in files {
            stmt.execute(params![path, job as i64, target, &id[..]])?;
        }
    }
    tx.commit()
}

pub fn upsert_job(conn: &Connection, job: &Job) -> rusqlite::Result<()> {
    let info = job.info();
    conn.prepare_cached(
        "INSERT INTO jobs (id, kind, paths, state, counts, rejects_by_reason, skipped_by_ext, discovery_done,
           started, finished, elapsed_s, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, counts = excluded.counts,
           rejects_by_reason = excluded.rejects_by_reason, skipped_by_ext = excluded.skipped_by_ext,
           discovery_done = excluded.discovery_done, finished = excluded.finished,
           elapsed_s = excluded.elapsed_s, note = excluded.note",
    )?
    .execute(params![
        info.id as i64,
        info.kind,
        to_json(&info.paths),
        info.state.as_str(),
        to_json(&info.counts),
        to_json(&info.rejects_by_reason),
        to_json(&info.skipped_by_ext),
        info.discovery_done,
        info.started,
        info.finished,
        info.elapsed_s,
        info.note,
    ])?;
    Ok(())
}

pub fn file_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM files", [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
}

pub fn optional<T>(r: rusqlite::Result<T>) -> rusqlite::Result<Option<T>> {
    r.optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_with_prefix_takes_one_fan_out_folder_edges_and_parents_included() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_writer(&dir.path().join("catalog.db")).expect("open");
        let ids: Vec<ContentId> = [[0x00u8; 16], [0x01; 16], [0xfe; 16], [0xff; 16], {
            let mut id = [0xff; 16];
            id[1] = 0;
            id
        }]
        .to_vec();
        for id in &ids {
            conn.execute(
                "INSERT INTO files (hash, size, format, tracks, channels, notes, drum_notes, events, duration_ticks,
                   duration_s, repairs, job) VALUES (?1, 10, 0, 1, 1, 3, 0, 5, 96, 0.5, '', 1)",
                params![&id[..]],
            )
            .expect("row");
        }
        let mut ff = object_ids_with_prefix(&conn, 0xff).expect("ff");
        ff.sort();
        assert_eq!(ff, vec![(ids[4], true), (ids[3], true)]);
        assert_eq!(object_ids_with_prefix(&conn, 0x00).expect("00"), vec![(ids[0], true)]);
        assert_eq!(object_ids_with_prefix(&conn, 0xfe).expect("fe"), vec![(ids[2], true)]);
        // A part split from 0x01..: its own id need not have an object, its parent's must. And a
        // part whose parent has no row (its batch failed) still names the parent's object.
        let part = [0x80u8; 16];
        let orphan_parent = [0x82u8; 16];
        for (hash, parent, index) in [(part, ids[1], 1), ([0x83u8; 16], orphan_parent, 1)] {
            conn.execute(
                "INSERT INTO files (hash, size, format, tracks, channels, notes, drum_notes, events, duration_ticks,
                   duration_s, repairs, job, parent, part_index) VALUES (?1, 10, 1, 2, 1, 3, 0, 5, 96, 0.5, '', 1, ?2, ?3)",
                params![&hash[..], &parent[..], index],
            )
            .expect("part row");
        }
        assert!(names_object(&conn, &orphan_parent).expect("orphan parent"), "named by its part's link alone");
        assert_eq!(object_ids_with_prefix(&conn, 0x82).expect("82"), vec![(orphan_parent, true)]);
        assert_eq!(object_ids_with_prefix(&conn, 0x80).expect("80"), vec![(part, false)]);
        let mut one = object_ids_with_prefix(&conn, 0x01).expect("01");
        one.sort();
        assert_eq!(one, vec![(ids[1], true), (ids[1], true)], "the parent's own row and its part's link");
        assert!(names_object(&conn, &ids[1]).expect("parent"));
        assert!(names_object(&conn, &part).expect("part"));
        assert!(!names_object(&conn, &[0x81; 16]).expect("nothing"));
        assert!(object_ids_with_prefix(&conn, 0x81).expect("81").is_empty());
    }

    /// A catalog written by the previous version (before the analysis columns) opens, migrates,
    /// and its rows read back with the analysis absent rather than failing.
    #[test]
    fn catalog_at_version_2_migrates_and_old_rows_read_without_analysis() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)")
                .expect("schema_migrations");
            for (version, sql) in &MIGRATIONS[..2] {
                conn.execute_batch(sql).expect("old migration");
                conn.execute("INSERT INTO schema_migrations VALUES (?1, 'then')", params![version]).expect("record");
            }
            conn.execute(
                "INSERT INTO files (hash, size, format, tracks, channels, notes, drum_notes, events, duration_ticks,
                   duration_s, repairs, job) VALUES (?1, 10, 0, 1, 1, 3, 0, 5, 96, 0.5, '', 1)",
                params![&[7u8; 16][..]],
            )
            .expect("old row");
            conn.execute(
                "INSERT INTO sources (hash, job, path, name) VALUES (?1, 1, '/old/a.mid', 'a.mid')",
                params![&[7u8; 16][..]],
            )
            .expect("old source");
        }
        let conn = open_writer(&path).expect("migrates");
        let version: i64 =
            conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0)).expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        drop(conn);
        let reader = crate::catalog::query::Reader::open(&path).expect("reader");
        let files = reader.search(&crate::catalog::lang::Query::default(), 10).expect("search");
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(f.notes, 3);
        assert_eq!((f.key.as_deref(), f.role.as_deref(), f.fingerprint.as_deref()), (None, None, None));
        assert!(f.parts.is_empty() && f.chords.is_empty());
        assert_eq!(f.sources.len(), 1);
        assert!(f.sources[0].tags.is_empty());
    }
}
