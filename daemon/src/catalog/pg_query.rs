//! The read side on PostgreSQL: what `search`, `show`, `dupes`, `rejects` and `jobs` answer,
//! with the same SQL shapes as `query.rs` (the query language renders its own `$n` dialect), so
//! both stores return the same files in the same order for the same catalog.

use midictl::protocol::{DupeGroup, FileInfo, JobInfo, RejectInfo, SourceInfo};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::lang::{Param, Query};
use super::postgres::{err, is_transient, redact, PgConn};
use super::query::{
    dupes, file_from, hash_range, job_from, reject_from, source_from, Cols, DupeRows, MemberRow, FILE_COLS, HIDE_DUPES,
};
use super::CatalogError;
use crate::dedupe::{from_hex, ContentId};

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

    /// The error of a row this program wrote but cannot read back, with the server named.
    fn err(&self, op: &'static str) -> impl Fn(tokio_postgres::Error) -> CatalogError + '_ {
        move |source| CatalogError::Postgres { op, url: redact(self.conn.borrow().url()), source }
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

    /// One attempt, bounded by `limit`, no reconnect: for callers that hold a lock others wait
    /// on (gc holds a dedupe stripe) and would rather fail than wait on a lost server or behind
    /// another session's exclusive lock. A query cut short is dropped by the client; the error
    /// says how long it was given.
    fn query_within(
        &self,
        op: &'static str,
        limit: std::time::Duration,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, CatalogError> {
        let conn = self.conn.borrow();
        // The timer is made inside the block: `timeout` registers with the runtime's timer when
        // it is created, and out here no runtime is entered (it panics).
        match conn.block_on(async { tokio::time::timeout(limit, conn.client().query(sql, params)).await }) {
            Ok(rows) => rows.map_err(err(op, conn.url())),
            Err(_) => Err(CatalogError::Timeout { op, url: redact(conn.url()), secs: limit.as_secs() }),
        }
    }

    pub fn next_job_id(&mut self) -> Result<u64, CatalogError> {
        let rows = self.query("taking a job id", "SELECT nextval('jobs_id_seq')", &[])?;
        let first = rows.first().ok_or(CatalogError::NoRow { op: "taking a job id" })?;
        Ok(first.try_get::<_, i64>(0).map_err(self.err("taking a job id"))? as u64)
    }

    pub fn file_count(&self) -> Result<u64, CatalogError> {
        let rows = self.query("counting files", "SELECT COUNT(*) FROM files", &[])?;
        let first = rows.first().ok_or(CatalogError::NoRow { op: "counting files" })?;
        Ok(first.try_get::<_, i64>(0).map_err(self.err("counting files"))?.max(0) as u64)
    }

    /// As `sqlite::object_ids_with_prefix`: one fan-out folder's ids, each with whether its
    /// object must exist. `bytea` compares bytewise, so the same range bounds hold. Bounded by
    /// `limit` ([`Self::query_within`]): gc and verify must not hang the daemon's shutdown.
    pub fn object_ids_with_prefix(
        &self,
        prefix: u8,
        limit: std::time::Duration,
    ) -> Result<Vec<(ContentId, bool)>, CatalogError> {
        const OP: &str = "listing object ids";
        let (low, high) = super::sqlite::prefix_bounds(prefix);
        let rows = self.query_within(
            OP,
            limit,
            "SELECT hash, parent IS NULL FROM files WHERE hash >= $1 AND hash < $2
             UNION ALL SELECT DISTINCT parent, true FROM files WHERE parent >= $1 AND parent < $2",
            &[&low, &high],
        )?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let blob: Vec<u8> = row.try_get(0).map_err(self.err(OP))?;
            let required: bool = row.try_get(1).map_err(self.err(OP))?;
            // A hash that is not 16 bytes names no object; nothing to keep or check for it.
            if let Ok(id) = <ContentId>::try_from(blob.as_slice()) {
                ids.push((id, required));
            }
        }
        Ok(ids)
    }

    /// As `sqlite::names_object`: whether a row names `id`'s object, its own or a part's.
    /// Bounded by `limit` ([`Self::query_within`]).
    pub fn names_object(&self, id: &ContentId, limit: std::time::Duration) -> Result<bool, CatalogError> {
        let id = &id[..];
        let rows = self.query_within(
            "looking for an object's rows",
            limit,
            "SELECT 1 FROM files WHERE hash = $1 OR parent = $1 LIMIT 1",
            &[&id],
        )?;
        Ok(!rows.is_empty())
    }

    /// As `Reader::search`.
    pub fn search(&self, query: &Query, limit: u64) -> Result<Vec<FileInfo>, CatalogError> {
        let mut conds: Vec<String> = Vec::new();
        if query.hide_dupes {
            conds.push(HIDE_DUPES.to_string());
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
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = file_from(row).map_err(self.err("searching"))?;
            out.push(self.with_sources(f)?);
        }
        Ok(out)
    }

    /// As `Reader::show`.
    pub fn show(&self, hash: &str) -> Result<Option<FileInfo>, CatalogError> {
        let Some((lo, hi)) = hash_range(hash) else { return Ok(None) };
        let (lo, hi) = (&lo[..], &hi[..]);
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE hash BETWEEN $1 AND $2 LIMIT 2");
        let rows = self.query("showing", &sql, &[&lo, &hi])?;
        if rows.len() != 1 {
            return Ok(None);
        }
        let f = file_from(&rows[0]).map_err(self.err("showing"))?;
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
        rows.iter().map(source_from).collect::<Result<_, _>>().map_err(self.err("reading sources"))
    }

    pub fn rejects(&self, job: Option<u64>, limit: u64) -> Result<Vec<RejectInfo>, CatalogError> {
        let (job, limit) = (job.map(|j| j as i64), limit.min(i64::MAX as u64) as i64);
        let rows = self.query(
            "listing rejects",
            "SELECT job, path, reason, detail FROM rejects WHERE ($1::bigint IS NULL OR job = $1) ORDER BY id LIMIT $2",
            &[&job, &limit],
        )?;
        rows.iter().map(reject_from).collect::<Result<_, _>>().map_err(self.err("listing rejects"))
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
        rows.iter().map(job_from).collect::<Result<_, _>>().map_err(self.err("listing jobs"))
    }

    /// As `Reader::dupes` (the same function, over this store's lookups).
    pub fn dupes(&self, tier: Option<u8>, limit: u64) -> Result<Vec<DupeGroup>, CatalogError> {
        dupes(self, tier, limit)
    }
}

/// The shared SQL is written with `?1`; PostgreSQL numbers its parameters `$1`.
fn dollar(sql: &str) -> String {
    sql.replace("?1", "$1")
}

impl DupeRows for PgReader {
    fn keys(&self, sql: &str) -> Result<Vec<Vec<u8>>, CatalogError> {
        let rows = self.query("listing duplicates", sql, &[])?;
        rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>().map_err(self.err("listing duplicates"))
    }

    fn members(&self, sql: &str, key: &[u8]) -> Result<Vec<MemberRow>, CatalogError> {
        let rows = self.query("listing duplicates", &dollar(sql), &[&key])?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<Result<_, _>>()
            .map_err(self.err("listing duplicates"))
    }

    fn value(&self, sql: &str, hash: &[u8]) -> Result<Option<Vec<u8>>, CatalogError> {
        let rows = self.query("listing duplicates", &dollar(sql), &[&hash])?;
        match rows.first() {
            Some(r) => r.try_get::<_, Option<Vec<u8>>>(0).map_err(self.err("listing duplicates")),
            None => Ok(None),
        }
    }

    fn sources(&self, hash: &str) -> Result<Vec<SourceInfo>, CatalogError> {
        self.sources_of(hash)
    }
}
