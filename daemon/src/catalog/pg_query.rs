//! The read side on PostgreSQL: what `search`, `show`, `dupes`, `rejects` and `jobs` answer,
//! with the same SQL shapes as `query.rs` (the query language renders its own `$n` dialect), so
//! both stores return the same files in the same order for the same catalog.

use midictl::protocol::{Counts, DupeGroup, DupeMember, FileInfo, JobInfo, JobState, RejectInfo, SourceInfo};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::lang::{Param, Query};
use super::postgres::{err, is_transient, redact, PgConn};
use super::query::{file_from, Cols, FILE_COLS};
use super::CatalogError;
use crate::dedupe::{from_hex, to_hex};

/// Sources listed per member of a duplicate group (as `query.rs`).
const MAX_SOURCES_LISTED: usize = 20;
/// Members listed per duplicate group.
const MAX_GROUP_LISTED: usize = 50;

pub struct PgReader {
    /// Replaced when the server drops the connection (a restart, an administrator's
    /// `pg_terminate_backend`): the next query reconnects once rather than failing forever.
    conn: std::cell::RefCell<PgConn>,
}

impl Cols for Row {
    type E = tokio_postgres::Error;
    fn int(&self, col: &str) -> Result<Option<i64>, Self::E> {
        self.try_get(col)
    }
    fn real(&self, col: &str) -> Result<Option<f64>, Self::E> {
        self.try_get(col)
    }
    fn flag(&self, col: &str) -> Result<Option<bool>, Self::E> {
        self.try_get(col)
    }
    fn text(&self, col: &str) -> Result<Option<String>, Self::E> {
        self.try_get(col)
    }
    fn blob(&self, col: &str) -> Result<Option<Vec<u8>>, Self::E> {
        self.try_get(col)
    }
}

impl PgReader {
    /// A reader on its own connection (the writer's is busy with COPY). The schema is the
    /// writer's business: a reader opened on an unmigrated database fails at its first query.
    pub fn open(url: &str) -> Result<PgReader, CatalogError> {
        Ok(PgReader { conn: std::cell::RefCell::new(PgConn::connect(url)?) })
    }

    fn query(&self, op: &'static str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, CatalogError> {
        let first = {
            let conn = self.conn.borrow();
            conn.block_on(conn.client().query(sql, params))
        };
        match first {
            Ok(rows) => Ok(rows),
            Err(e) if is_transient(&e) => {
                let mut conn = self.conn.borrow_mut();
                tracing::warn!("{op} on {}: {e}; reconnecting", redact(conn.url()));
                conn.reconnect().map_err(err(op, conn.url()))?;
                conn.block_on(conn.client().query(sql, params)).map_err(err(op, conn.url()))
            }
            Err(e) => Err(err(op, self.conn.borrow().url())(e)),
        }
    }

    pub fn next_job_id(&mut self) -> Result<u64, CatalogError> {
        let rows = self.query("taking a job id", "SELECT nextval('jobs_id_seq')", &[])?;
        rows.first().map(|r| r.get::<_, i64>(0) as u64).ok_or(CatalogError::Unsupported { what: "an empty nextval" })
    }

    pub fn file_count(&self) -> Result<u64, CatalogError> {
        let rows = self.query("counting files", "SELECT COUNT(*) FROM files", &[])?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
    }

    /// As `Reader::search`.
    pub fn search(&self, query: &Query, limit: u64) -> Result<Vec<FileInfo>, CatalogError> {
        let mut conds: Vec<String> = Vec::new();
        if query.hide_dupes {
            conds.push(
                "(fingerprint IS NULL OR notes = 0
                   OR id = (SELECT f2.id FROM files f2 WHERE f2.fingerprint = files.fingerprint AND f2.notes > 0
                            ORDER BY f2.parent IS NOT NULL, f2.id LIMIT 1))"
                    .to_string(),
            );
        }
        let limit = limit.min(i64::MAX as u64) as i64;
        let (terms, values) = query.postgres_where(2);
        if !terms.is_empty() {
            conds.push(terms);
        }
        let boxed: Vec<Box<dyn ToSql + Sync>> = values
            .into_iter()
            .map(|v| -> Box<dyn ToSql + Sync> {
                match v {
                    Param::Int(i) => Box::new(i),
                    Param::Real(r) => Box::new(r),
                    Param::Text(t) => Box::new(t),
                }
            })
            .collect();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&limit];
        params.extend(boxed.iter().map(|b| b.as_ref()));
        let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
        let sql = format!("SELECT {FILE_COLS} FROM files {filter} ORDER BY {} LIMIT $1", query.postgres_order());
        let rows = self.query("searching", &sql, &params)?;
        let url = self.conn.borrow().url().to_string();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = file_from(row).map_err(err("searching", &url))?;
            out.push(self.with_sources(f)?);
        }
        Ok(out)
    }

    /// As `Reader::show`.
    pub fn show(&self, hash: &str) -> Result<Option<FileInfo>, CatalogError> {
        let hex = hash.trim().to_ascii_lowercase();
        if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let (Some(lo), Some(hi)) = (from_hex(&format!("{hex:0<32}")), from_hex(&format!("{hex:f<32}"))) else {
            return Ok(None);
        };
        let (lo, hi) = (&lo[..], &hi[..]);
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE hash BETWEEN $1 AND $2 LIMIT 2");
        let rows = self.query("showing", &sql, &[&lo, &hi])?;
        if rows.len() != 1 {
            return Ok(None);
        }
        let url = self.conn.borrow().url().to_string();
        let f = file_from(&rows[0]).map_err(err("showing", &url))?;
        self.with_sources(f).map(Some)
    }

    fn with_sources(&self, mut f: FileInfo) -> Result<FileInfo, CatalogError> {
        f.sources = self.sources_of(&f.hash)?;
        Ok(f)
    }

    fn sources_of(&self, hash: &str) -> Result<Vec<SourceInfo>, CatalogError> {
        let Some(id) = from_hex(hash) else { return Ok(Vec::new()) };
        let id = &id[..];
        let rows = self.query(
            "reading sources",
            "SELECT path, name, clean_name, job, tags::text FROM sources WHERE hash = $1 ORDER BY id",
            &[&id],
        )?;
        Ok(rows
            .iter()
            .map(|r| SourceInfo {
                path: r.get(0),
                name: r.get(1),
                clean_name: r.get(2),
                job: r.get::<_, i64>(3) as u64,
                tags: r.get::<_, Option<String>>(4).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
            })
            .collect())
    }

    pub fn rejects(&self, job: Option<u64>, limit: u64) -> Result<Vec<RejectInfo>, CatalogError> {
        let (job, limit) = (job.map(|j| j as i64), limit.min(i64::MAX as u64) as i64);
        let rows = self.query(
            "listing rejects",
            "SELECT job, path, reason, detail FROM rejects WHERE ($1::bigint IS NULL OR job = $1) ORDER BY id LIMIT $2",
            &[&job, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| RejectInfo { job: r.get::<_, i64>(0) as u64, path: r.get(1), reason: r.get(2), detail: r.get(3) })
            .collect())
    }

    pub fn jobs(&self, limit: u64) -> Result<Vec<JobInfo>, CatalogError> {
        self.jobs_where(None, limit)
    }

    pub fn job(&self, id: u64) -> Result<Option<JobInfo>, CatalogError> {
        Ok(self.jobs_where(Some(id), 1)?.pop())
    }

    fn jobs_where(&self, id: Option<u64>, limit: u64) -> Result<Vec<JobInfo>, CatalogError> {
        let (id, limit) = (id.map(|i| i as i64), limit.min(i64::MAX as u64) as i64);
        let rows = self.query(
            "listing jobs",
            "SELECT id, kind, paths, state, counts, rejects_by_reason, skipped_by_ext, discovery_done,
               started, finished, elapsed_s, note FROM jobs WHERE ($1::bigint IS NULL OR id = $1)
             ORDER BY id DESC LIMIT $2",
            &[&id, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let counts: Counts = serde_json::from_str(r.get::<_, &str>(4)).unwrap_or_default();
                let elapsed: f64 = r.get(10);
                JobInfo {
                    id: r.get::<_, i64>(0) as u64,
                    kind: r.get(1),
                    paths: serde_json::from_str(r.get::<_, &str>(2)).unwrap_or_default(),
                    state: JobState::parse(r.get::<_, &str>(3)).unwrap_or(JobState::Failed),
                    files_per_s: if elapsed > 0.0 { counts.cataloged as f64 / elapsed } else { 0.0 },
                    counts,
                    rejects_by_reason: serde_json::from_str(r.get::<_, &str>(5)).unwrap_or_default(),
                    skipped_by_ext: serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default(),
                    discovery_done: r.get(7),
                    started: r.get(8),
                    finished: r.get(9),
                    elapsed_s: elapsed,
                    eta_s: None,
                    note: r.get(11),
                }
            })
            .collect())
    }

    /// As `Reader::dupes`: the same tiers, keys and explanations.
    pub fn dupes(&self, tier: Option<u8>, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
        let mut groups = Vec::new();
        for t in (0..=3u8).filter(|t| tier.is_none_or(|x| x == *t)) {
            let left = limit.saturating_sub(groups.len() as u64);
            if left == 0 {
                break;
            }
            groups.extend(self.dupes_of_tier(t, left)?);
        }
        Ok(groups)
    }

    fn dupes_of_tier(&self, tier: u8, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
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
            0 => "SELECT hash, parent, key, bpm FROM files WHERE hash = $1",
            1 => "SELECT hash, parent, key, bpm FROM files WHERE fingerprint = $1 AND parent IS NULL ORDER BY id",
            2 => "SELECT hash, parent, key, bpm FROM files WHERE fingerprint = $1 ORDER BY id",
            _ => "SELECT hash, parent, key, bpm FROM files WHERE shape = $1 AND notes > 0 ORDER BY id",
        };
        let parent_sql = match tier {
            2 => Some("SELECT fingerprint FROM files WHERE hash = $1"),
            3 => Some("SELECT shape FROM files WHERE hash = $1"),
            _ => None,
        };
        let op = "listing duplicates";
        let keys: Vec<Vec<u8>> = self.query(op, keys_sql, &[])?.iter().map(|r| r.get(0)).collect();
        let hex = |b: &[u8]| <[u8; 16]>::try_from(b).map(|h| to_hex(&h)).unwrap_or_default();
        let mut groups = Vec::new();
        for key in keys {
            if groups.len() as u64 >= limit {
                break;
            }
            let members = self.query(op, members_sql, &[&key])?;
            type Member = (Vec<u8>, Option<Vec<u8>>, Option<String>, Option<f64>);
            let members: Vec<Member> = members.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
            if let Some(sql) = parent_sql {
                if members.iter().all(|m| m.1.is_some()) {
                    let mut of_parents = std::collections::HashSet::new();
                    for m in &members {
                        let rows = self.query(op, sql, &[&m.1])?;
                        of_parents.insert(rows.first().and_then(|r| r.get::<_, Option<Vec<u8>>>(0)));
                    }
                    // Explained only when every parent is catalogued and they share one value.
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
                m.sources = self.sources_of(&m.hash)?;
                m.sources.truncate(MAX_SOURCES_LISTED);
                files.push(m);
            }
            groups.push(DupeGroup { tier, key: hex(&key), count, files });
        }
        Ok(groups)
    }
}
