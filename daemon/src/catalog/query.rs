//! The read side: what `search`, `show`, `rejects` and `jobs` answer, from a read-only connection.

use std::path::{Path, PathBuf};

use midictl::protocol::{Counts, DupeGroup, DupeMember, FileInfo, JobInfo, JobState, RejectInfo, SourceInfo};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::lang::Query;
use super::sqlite;
use super::CatalogError;
use crate::dedupe::{from_hex, to_hex};

/// (hash, parent, key, bpm) of a duplicate group's member.
pub type MemberRow = (Vec<u8>, Option<Vec<u8>>, Option<String>, Option<f64>);

/// Sources listed per member of a duplicate group.
const MAX_SOURCES_LISTED: usize = 20;

/// Members listed per duplicate group (the count says how many there are).
const MAX_GROUP_LISTED: usize = 50;

pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

/// The read side of either store: the embedded one here, PostgreSQL in `pg_query.rs`. Both
/// answer with the same protocol types, built by the one `file_from` below.
pub enum CatalogReader {
    Sqlite(Reader),
    Postgres(super::pg_query::PgReader),
}

macro_rules! both {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            CatalogReader::Sqlite($r) => $e,
            CatalogReader::Postgres($r) => $e,
        }
    };
}

impl CatalogReader {
    pub fn open(at: &super::Location) -> Result<CatalogReader, CatalogError> {
        Ok(match at {
            super::Location::Sqlite(path) => CatalogReader::Sqlite(Reader::open(path)?),
            super::Location::Postgres(url) => CatalogReader::Postgres(super::pg_query::PgReader::open(url)?),
        })
    }

    pub fn file_count(&self) -> Result<u64, CatalogError> {
        both!(self, r => r.file_count())
    }

    pub fn search(&self, query: &Query, limit: u64) -> Result<Vec<FileInfo>, CatalogError> {
        both!(self, r => r.search(query, limit))
    }

    pub fn dupes(&self, tier: Option<u8>, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
        both!(self, r => r.dupes(tier, limit))
    }

    pub fn show(&self, hash: &str) -> Result<Option<FileInfo>, CatalogError> {
        both!(self, r => r.show(hash))
    }

    pub fn rejects(&self, job: Option<u64>, limit: u64) -> Result<Vec<RejectInfo>, CatalogError> {
        both!(self, r => r.rejects(job, limit))
    }

    pub fn jobs(&self, limit: u64) -> Result<Vec<JobInfo>, CatalogError> {
        both!(self, r => r.jobs(limit))
    }

    pub fn job(&self, id: u64) -> Result<Option<JobInfo>, CatalogError> {
        both!(self, r => r.job(id))
    }
}

/// Typed column access over either store's row, so one function builds a `FileInfo`.
pub trait Cols {
    type E;
    fn int(&self, col: &str) -> Result<Option<i64>, Self::E>;
    fn real(&self, col: &str) -> Result<Option<f64>, Self::E>;
    fn flag(&self, col: &str) -> Result<Option<bool>, Self::E>;
    fn text(&self, col: &str) -> Result<Option<String>, Self::E>;
    fn blob(&self, col: &str) -> Result<Option<Vec<u8>>, Self::E>;
}

impl Cols for Row<'_> {
    type E = rusqlite::Error;
    fn int(&self, col: &str) -> rusqlite::Result<Option<i64>> {
        self.get(col)
    }
    fn real(&self, col: &str) -> rusqlite::Result<Option<f64>> {
        self.get(col)
    }
    fn flag(&self, col: &str) -> rusqlite::Result<Option<bool>> {
        self.get(col)
    }
    fn text(&self, col: &str) -> rusqlite::Result<Option<String>> {
        self.get(col)
    }
    fn blob(&self, col: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.get(col)
    }
}

pub const FILE_COLS: &str = "hash, size, format, ppq, tracks, channels, duration_s, duration_ticks, bars, bpm,
    bpm_source, tempo_changes, key, key_confidence, time_signature, has_drums, drum_parts, role, is_loop,
    notes, parent, repairs, bpm_confidence, key_tonic, key_mode, key_source, key_runner_up, meter_source,
    loop_bars, quantized, drum_dominant, drum_shares, role_confidence, parts, chords, pitch_min, pitch_max,
    polyphony_mean, polyphony_max, density, velocity_min, velocity_max, fingerprint";

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, CatalogError> {
        Ok(Reader { conn: sqlite::open_reader(path)?, path: path.to_path_buf() })
    }

    fn err(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        move |source| CatalogError::Sqlite { op, path: self.path.display().to_string(), source }
    }

    pub fn file_count(&self) -> Result<u64, CatalogError> {
        sqlite::file_count(&self.conn).map_err(self.err("counting files"))
    }

    /// The files a query selects (`lang.rs`), in its sort order (import order by default); with
    /// `dupes:hide`, one file per group of the same notes: the first whole file imported, else
    /// the first part (a loose loop is shown rather than its copy inside a song).
    pub fn search(&self, query: &Query, limit: u64) -> Result<Vec<FileInfo>, CatalogError> {
        let mut conds: Vec<String> = Vec::new();
        if query.hide_dupes {
            conds.push(HIDE_DUPES.to_string());
        }
        let mut params: Vec<rusqlite::types::Value> =
            vec![rusqlite::types::Value::Integer(limit.min(i64::MAX as u64) as i64)];
        let (terms, values) = query.sqlite_where(2);
        if !terms.is_empty() {
            conds.push(terms);
            params.extend(values);
        }
        let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
        let sql = format!("SELECT {FILE_COLS} FROM files {filter} ORDER BY {} LIMIT ?1", query.sqlite_order());
        let mut stmt = self.conn.prepare(&sql).map_err(self.err("searching"))?;
        let files = stmt
            .query_map(rusqlite::params_from_iter(params), file_from_row)
            .map_err(self.err("searching"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("searching"))?;
        files.into_iter().map(|f| self.with_sources(f)).collect()
    }

    /// Groups of duplicates (`dupes` below).
    pub fn dupes(&self, tier: Option<u8>, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
        dupes(self, tier, limit)
    }

    /// A file by full hash or unique hex prefix. Ok(None) when nothing (or more than one) matches.
    pub fn show(&self, hash: &str) -> Result<Option<FileInfo>, CatalogError> {
        let Some((lo, hi)) = hash_range(hash) else { return Ok(None) };
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE hash BETWEEN ?1 AND ?2 LIMIT 2");
        let mut stmt = self.conn.prepare(&sql).map_err(self.err("showing"))?;
        let mut found = stmt
            .query_map(params![&lo[..], &hi[..]], file_from_row)
            .map_err(self.err("showing"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("showing"))?;
        if found.len() != 1 {
            return Ok(None);
        }
        match found.pop() {
            Some(f) => self.with_sources(f).map(Some),
            None => Ok(None),
        }
    }

    fn with_sources(&self, mut f: FileInfo) -> Result<FileInfo, CatalogError> {
        f.sources = self.sources_of(&f.hash)?;
        Ok(f)
    }

    fn sources_of(&self, hash: &str) -> Result<Vec<SourceInfo>, CatalogError> {
        let Some(id) = from_hex(hash) else { return Ok(Vec::new()) };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT path, name, clean_name, job, tags FROM sources WHERE hash = ?1 ORDER BY id")
            .map_err(self.err("reading sources"))?;
        let sources = stmt
            .query_map(params![&id[..]], |r| source_from(r))
            .map_err(self.err("reading sources"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("reading sources"))?;
        Ok(sources)
    }

    pub fn rejects(&self, job: Option<u64>, limit: u64) -> Result<Vec<RejectInfo>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT job, path, reason, detail FROM rejects WHERE (?1 IS NULL OR job = ?1) ORDER BY id LIMIT ?2",
            )
            .map_err(self.err("listing rejects"))?;
        let rows = stmt
            .query_map(params![job.map(|j| j as i64), limit.min(i64::MAX as u64) as i64], |r| reject_from(r))
            .map_err(self.err("listing rejects"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("listing rejects"))?;
        Ok(rows)
    }

    /// Jobs recorded in the catalog, newest first.
    pub fn jobs(&self, limit: u64) -> Result<Vec<JobInfo>, CatalogError> {
        self.jobs_where(None, limit)
    }

    /// One job from the catalog's history.
    pub fn job(&self, id: u64) -> Result<Option<JobInfo>, CatalogError> {
        Ok(self.jobs_where(Some(id), 1)?.pop())
    }

    fn jobs_where(&self, id: Option<u64>, limit: u64) -> Result<Vec<JobInfo>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, paths, state, counts, rejects_by_reason, skipped_by_ext, discovery_done,
                   started, finished, elapsed_s, note FROM jobs WHERE (?1 IS NULL OR id = ?1)
                 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.err("listing jobs"))?;
        let rows = stmt
            .query_map(params![id.map(|i| i as i64), limit.min(i64::MAX as u64) as i64], |r| job_from(r))
            .map_err(self.err("listing jobs"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("listing jobs"))?;
        Ok(rows)
    }
}

/// The four lookups the duplicate tiers need, on either store. SQL is written with `?1`; the
/// PostgreSQL side renders it `$1`.
pub trait DupeRows {
    /// The first column of every row of a parameterless query.
    fn keys(&self, sql: &str) -> Result<Vec<Vec<u8>>, CatalogError>;
    /// (hash, parent, key, bpm) rows for one key.
    fn members(&self, sql: &str, key: &[u8]) -> Result<Vec<MemberRow>, CatalogError>;
    /// One nullable blob for one hash (None: no such row, or NULL).
    fn value(&self, sql: &str, hash: &[u8]) -> Result<Option<Vec<u8>>, CatalogError>;
    fn sources(&self, hash: &str) -> Result<Vec<SourceInfo>, CatalogError>;
}

/// Groups of duplicates, tier by tier (all tiers when `tier` is None), at most `limit`.
///
/// Tier 0 is one content found in several places; tier 1 whole files with one fingerprint;
/// tier 2 fingerprint groups holding a part, unless every member is a part of files that are
/// themselves one music (the parts of two tier-1 copies of a song, or two identical tracks of
/// one song); tier 3 shape groups spanning two or more fingerprints, with the same rule on
/// shapes. Files without notes have no music to compare and are left out of tiers 1-3.
pub fn dupes<S: DupeRows>(store: &S, tier: Option<u8>, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
    let mut groups = Vec::new();
    for t in (0..=3u8).filter(|t| tier.is_none_or(|x| x == *t)) {
        let left = limit.saturating_sub(groups.len() as u64);
        if left == 0 {
            break;
        }
        groups.extend(dupes_of_tier(store, t, left)?);
    }
    Ok(groups)
}

fn dupes_of_tier<S: DupeRows>(store: &S, tier: u8, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
    let keys_sql = match tier {
        0 => "SELECT hash FROM sources WHERE parent IS NULL GROUP BY hash HAVING COUNT(*) > 1 ORDER BY MIN(id)",
        1 => {
            "SELECT fingerprint FROM files WHERE parent IS NULL AND notes > 0 AND fingerprint IS NOT NULL
              GROUP BY fingerprint HAVING COUNT(*) > 1 ORDER BY MIN(id)"
        }
        2 => {
            "SELECT fingerprint FROM files WHERE notes > 0 AND fingerprint IS NOT NULL
              GROUP BY fingerprint HAVING COUNT(*) > 1 AND COUNT(parent) > 0 ORDER BY MIN(id)"
        }
        _ => {
            "SELECT shape FROM files WHERE notes > 0 AND shape IS NOT NULL
              GROUP BY shape HAVING COUNT(DISTINCT fingerprint) > 1 ORDER BY MIN(id)"
        }
    };
    let members_sql = match tier {
        0 => "SELECT hash, parent, key, bpm FROM files WHERE hash = ?1",
        1 => "SELECT hash, parent, key, bpm FROM files WHERE fingerprint = ?1 AND parent IS NULL ORDER BY id",
        2 => "SELECT hash, parent, key, bpm FROM files WHERE fingerprint = ?1 ORDER BY id",
        _ => "SELECT hash, parent, key, bpm FROM files WHERE shape = ?1 AND notes > 0 ORDER BY id",
    };
    // What a part's parent must share with its siblings' parents for the group to be
    // explained by a lower tier (or by one file).
    let parent_sql = match tier {
        2 => Some("SELECT fingerprint FROM files WHERE hash = ?1"),
        3 => Some("SELECT shape FROM files WHERE hash = ?1"),
        _ => None,
    };
    let hex = |b: &[u8]| <[u8; 16]>::try_from(b).map(|h| to_hex(&h)).unwrap_or_default();
    let mut groups = Vec::new();
    for key in store.keys(keys_sql)? {
        if groups.len() as u64 >= limit {
            break;
        }
        let members = store.members(members_sql, &key)?;
        if let Some(sql) = parent_sql {
            if members.iter().all(|m| m.1.is_some()) {
                let mut of_parents = std::collections::HashSet::new();
                for m in &members {
                    of_parents.insert(store.value(sql, m.1.as_deref().unwrap_or_default())?);
                }
                // Explained only when every parent is catalogued and they share one value; a
                // missing parent (its batch failed) proves nothing.
                if of_parents.len() == 1 && !of_parents.contains(&None) {
                    continue;
                }
            }
        }
        let count = members.len() as u64;
        let mut files = Vec::new();
        for (hash, parent, k, bpm) in members.into_iter().take(MAX_GROUP_LISTED) {
            let mut m =
                DupeMember { hash: hex(&hash), parent: parent.as_deref().map(hex), key: k, bpm, sources: vec![] };
            // A content found in thousands of places would outgrow a reply frame; `show`
            // lists them all.
            m.sources = store.sources(&m.hash)?;
            m.sources.truncate(MAX_SOURCES_LISTED);
            files.push(m);
        }
        groups.push(DupeGroup { tier, key: hex(&key), count, files });
    }
    Ok(groups)
}

impl DupeRows for Reader {
    fn keys(&self, sql: &str) -> Result<Vec<Vec<u8>>, CatalogError> {
        let err = self.err("listing duplicates");
        let mut stmt = self.conn.prepare_cached(sql).map_err(&err)?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    fn members(&self, sql: &str, key: &[u8]) -> Result<Vec<MemberRow>, CatalogError> {
        let err = self.err("listing duplicates");
        let mut stmt = self.conn.prepare_cached(sql).map_err(&err)?;
        let rows = stmt.query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(&err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&err)
    }

    fn value(&self, sql: &str, hash: &[u8]) -> Result<Option<Vec<u8>>, CatalogError> {
        let err = self.err("listing duplicates");
        let mut stmt = self.conn.prepare_cached(sql).map_err(&err)?;
        Ok(stmt.query_row(params![hash], |r| r.get(0)).optional().map_err(&err)?.flatten())
    }

    fn sources(&self, hash: &str) -> Result<Vec<SourceInfo>, CatalogError> {
        self.sources_of(hash)
    }
}

/// `dupes:hide`: one file per group of the same notes, the first whole file imported, else the
/// first part (a loose loop is shown rather than its copy inside a song). Same SQL on both stores.
pub const HIDE_DUPES: &str = "(fingerprint IS NULL OR notes = 0
   OR id = (SELECT f2.id FROM files f2 WHERE f2.fingerprint = files.fingerprint AND f2.notes > 0
            ORDER BY f2.parent IS NOT NULL, f2.id LIMIT 1))";

/// The ids a full hash or hex prefix spans (`show`); None for anything that is not 1-32 hex digits.
pub fn hash_range(hash: &str) -> Option<([u8; 16], [u8; 16])> {
    let hex = hash.trim().to_ascii_lowercase();
    if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((from_hex(&format!("{hex:0<32}"))?, from_hex(&format!("{hex:f<32}"))?))
}

/// A row of `path, name, clean_name, job, tags` from `sources`.
pub fn source_from<R: Cols>(r: &R) -> Result<SourceInfo, R::E> {
    Ok(SourceInfo {
        path: r.text("path")?.unwrap_or_default(),
        name: r.text("name")?.unwrap_or_default(),
        clean_name: r.text("clean_name")?,
        job: r.int("job")?.unwrap_or_default() as u64,
        tags: r.text("tags")?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
    })
}

/// A row of `job, path, reason, detail` from `rejects`.
pub fn reject_from<R: Cols>(r: &R) -> Result<RejectInfo, R::E> {
    Ok(RejectInfo {
        job: r.int("job")?.unwrap_or_default() as u64,
        path: r.text("path")?.unwrap_or_default(),
        reason: r.text("reason")?.unwrap_or_default(),
        detail: r.text("detail")?.unwrap_or_default(),
    })
}

/// A `jobs` row (every column but `owner`).
pub fn job_from<R: Cols>(r: &R) -> Result<JobInfo, R::E> {
    // JSON columns are written by this program; one that does not parse reads as empty.
    fn json<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
        s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
    }
    let counts: Counts = json(r.text("counts")?);
    let elapsed = r.real("elapsed_s")?.unwrap_or_default();
    Ok(JobInfo {
        id: r.int("id")?.unwrap_or_default() as u64,
        kind: r.text("kind")?.unwrap_or_default(),
        paths: json(r.text("paths")?),
        state: r.text("state")?.as_deref().and_then(JobState::parse).unwrap_or(JobState::Failed),
        files_per_s: if elapsed > 0.0 { counts.cataloged as f64 / elapsed } else { 0.0 },
        counts,
        rejects_by_reason: json(r.text("rejects_by_reason")?),
        skipped_by_ext: json(r.text("skipped_by_ext")?),
        discovery_done: r.flag("discovery_done")?.unwrap_or_default(),
        started: r.text("started")?,
        finished: r.text("finished")?,
        elapsed_s: elapsed,
        eta_s: None,
        note: r.text("note")?,
    })
}

pub fn channels_of(mask: u16) -> Vec<u8> {
    (0..16u8).filter(|c| mask & (1 << c) != 0).map(|c| c + 1).collect()
}

fn file_from_row(r: &Row<'_>) -> rusqlite::Result<FileInfo> {
    file_from(r)
}

/// A `FileInfo` from a row of `FILE_COLS`, on either store.
pub fn file_from<R: Cols>(r: &R) -> Result<FileInfo, R::E> {
    let hex16 = |b: Option<Vec<u8>>| b.and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok()).map(|h| to_hex(&h));
    let list = |s: Option<String>| -> Vec<String> {
        s.map(|s| s.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect()).unwrap_or_default()
    };
    // JSON columns are written by this program; one that does not parse reads as absent.
    fn json<T: serde::de::DeserializeOwned>(s: Option<String>) -> Option<T> {
        s.and_then(|s| serde_json::from_str(&s).ok())
    }
    // Every integer column holds what this program wrote from a narrower type; one out of range
    // (a hand-edited row) reads as absent, or as 0 where the protocol has no absence.
    fn narrow<T: TryFrom<i64>>(v: Option<i64>) -> Option<T> {
        v.and_then(|v| T::try_from(v).ok())
    }
    let count = |v: Option<i64>| v.map_or(0, |v| v.max(0) as u64);
    Ok(FileInfo {
        hash: hex16(r.blob("hash")?).unwrap_or_default(),
        size: count(r.int("size")?),
        format: narrow(r.int("format")?).unwrap_or_default(),
        ppq: narrow(r.int("ppq")?),
        tracks: narrow(r.int("tracks")?).unwrap_or_default(),
        channels: channels_of(narrow(r.int("channels")?).unwrap_or_default()),
        duration_s: r.real("duration_s")?.unwrap_or_default(),
        duration_ticks: count(r.int("duration_ticks")?),
        bars: r.real("bars")?,
        bpm: r.real("bpm")?,
        bpm_source: r.text("bpm_source")?,
        tempo_changes: r.flag("tempo_changes")?.unwrap_or_default(),
        key: r.text("key")?,
        key_confidence: r.real("key_confidence")?,
        time_signature: r.text("time_signature")?,
        has_drums: r.flag("has_drums")?,
        drum_parts: r.text("drum_parts")?.map(|s| list(Some(s))),
        role: r.text("role")?,
        is_loop: r.flag("is_loop")?,
        notes: count(r.int("notes")?),
        parent: hex16(r.blob("parent")?),
        repairs: list(r.text("repairs")?),
        sources: Vec::new(),
        bpm_confidence: r.real("bpm_confidence")?,
        key_tonic: narrow(r.int("key_tonic")?),
        key_mode: r.text("key_mode")?,
        key_source: r.text("key_source")?,
        key_runner_up: r.text("key_runner_up")?,
        meter_source: r.text("meter_source")?,
        loop_bars: narrow(r.int("loop_bars")?),
        quantized: r.flag("quantized")?,
        drum_dominant: r.text("drum_dominant")?,
        drum_shares: json(r.text("drum_shares")?),
        role_confidence: r.real("role_confidence")?,
        parts: json(r.text("parts")?).unwrap_or_default(),
        chords: json(r.text("chords")?).unwrap_or_default(),
        pitch_min: narrow(r.int("pitch_min")?),
        pitch_max: narrow(r.int("pitch_max")?),
        polyphony_mean: r.real("polyphony_mean")?,
        polyphony_max: narrow(r.int("polyphony_max")?),
        density: r.real("density")?,
        velocity_min: narrow(r.int("velocity_min")?),
        velocity_max: narrow(r.int("velocity_max")?),
        fingerprint: hex16(r.blob("fingerprint")?),
    })
}
