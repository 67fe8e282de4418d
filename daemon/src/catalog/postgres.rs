//! The PostgreSQL catalog: the same logical schema as the embedded store (`migrations/postgres/`),
//! written by the one writer thread with COPY BINARY.
//!
//! A group of batches is written in one transaction: a group is all-or-nothing, and replaying it
//! changes nothing. Its files and sources are COPYed straight into the tables inside a savepoint
//! (`copy_direct`: what a group of new contents needs, and most groups are that). A row already
//! there (a replay, another daemon) fails that COPY on a unique index; the writer rolls back to
//! the savepoint and merges: COPY into session-local staging tables (`ON COMMIT DELETE ROWS`),
//! then `INSERT ... ON CONFLICT DO NOTHING`. That is also what makes several daemons on one
//! catalog safe: two that import the same content both try to insert its row, the unique hash
//! keeps one, and the other learns it was not new from the merge's `RETURNING`.
//!
//! The client is tokio-postgres on a current-thread runtime owned by the thread that uses it (the
//! writer, or a reader); nothing else runs on it, so the shards' io_uring loops never share an
//! executor with the database. When the connection is lost, the writer keeps its group, waits
//! (1 s doubling to 30 s), reconnects and replays it: it never drops a group, and while it
//! waits the bounded channels stop the shards (backpressure, not memory growth).

use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::runtime::Runtime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use super::row::{name_key, tags_json, to_json, FileRow, Op, Outcome};
use super::{CatalogError, ExportedFile};
use crate::dedupe::ContentId;
use crate::job::Job;

pub const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../../migrations/postgres/0002_search.sql")),
    (3, include_str!("../../../migrations/postgres/0003_name_key.sql")),
];

/// Any advisory lock key only midid takes: migrations run under it, so two daemons starting on
/// one database apply them once.
const MIGRATION_LOCK: i64 = 0x6d69_6469_645f_6d67;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Whether a `--database` value names PostgreSQL.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The URL with any password replaced, for messages and `status`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, tail) = match rest.split_once('@') {
        Some((auth, tail)) if !auth.contains('/') => (Some(auth), tail),
        _ => (None, rest),
    };
    match auth.map(|a| a.split_once(':')) {
        Some(Some((user, _))) => format!("{scheme}://{user}:***@{tail}"),
        Some(None) => format!("{scheme}://{}@{tail}", auth.unwrap_or_default()),
        None => url.to_string(),
    }
}

/// Connection losses (and a server shutting down or starting up) are worth a retry; anything
/// else (a constraint, a type, a syntax error) would fail the same way again.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            code.code().starts_with("08")
                || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(code)
        }
        // No SQLSTATE: the error came from the socket, not the server.
        None => {
            let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
            while let Some(s) = src {
                if s.is::<std::io::Error>() {
                    return true;
                }
                src = s.source();
            }
            false
        }
    }
}

/// A transaction the server aborted because of another one (deadlock, serialization failure):
/// nothing is wrong with the group or the connection, and the same group can simply run again.
pub(crate) fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// One connection and the runtime that drives it.
pub struct PgConn {
    rt: Runtime,
    client: Client,
    url: String,
}

impl PgConn {
    pub fn connect(url: &str) -> Result<PgConn, CatalogError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CatalogError::Runtime)?;
        let client = rt.block_on(open(&rt, url)).map_err(err("connecting", url))?;
        Ok(PgConn { rt, client, url: url.to_string() })
    }

    pub(crate) fn reconnect(&mut self) -> Result<(), tokio_postgres::Error> {
        self.client = self.rt.block_on(open(&self.rt, &self.url))?;
        Ok(())
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn err(&self, op: &'static str) -> impl Fn(tokio_postgres::Error) -> CatalogError + '_ {
        err(op, &self.url)
    }

    /// Runs a future on this connection's runtime (readers: every query is one block_on).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Applies the migrations this binary knows that the database lacks, in one transaction,
    /// under an advisory lock; refuses a database migrated by a newer midid.
    pub fn migrate(&mut self) -> Result<(), CatalogError> {
        let url = self.url.clone();
        let e = |op| err(op, &url);
        let known = MIGRATIONS.last().map_or(0, |m| m.0);
        self.rt.block_on(async {
            let tx = self.client.transaction().await.map_err(e("starting migrations"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(e("locking migrations"))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied TEXT NOT NULL)",
            )
            .await
            .map_err(e("creating schema_migrations"))?;
            let current: i64 = tx
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
                .await
                .map_err(e("reading schema version"))?
                .try_get(0)
                .map_err(e("reading schema version"))?;
            if current > known {
                // Rolled back here, not on drop: a dropped transaction's ROLLBACK waits for the
                // connection's next use, and until then the lock and the session stay held.
                tx.rollback().await.map_err(e("releasing the migration lock"))?;
                return Err(CatalogError::TooNew { path: redact(&url), found: current, known });
            }
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
                tx.batch_execute(sql).await.map_err(e("applying migration"))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)",
                    &[version, &crate::job::now_rfc3339()],
                )
                .await
                .map_err(e("recording migration"))?;
            }
            tx.commit().await.map_err(e("committing migrations"))
        })
    }

    /// Every catalogued content id (for the dedupe index) and every walked archive, streamed.
    pub fn load_ids(&mut self, mut each: impl FnMut(ContentId, bool)) -> Result<(), CatalogError> {
        let url = self.url.clone();
        self.rt.block_on(async {
            for (sql, archive) in [("SELECT hash FROM files", false), ("SELECT hash FROM archives", true)] {
                let rows =
                    self.client.query_raw(sql, std::iter::empty::<i64>()).await.map_err(err("loading ids", &url))?;
                let mut rows = std::pin::pin!(rows);
                while let Some(row) = rows.try_next().await.map_err(err("loading ids", &url))? {
                    if let Ok(id) =
                        row.try_get::<_, &[u8]>(0).map_err(|_| ()).and_then(|b| ContentId::try_from(b).map_err(|_| ()))
                    {
                        each(id, archive);
                    }
                }
            }
            Ok(())
        })
    }

    /// Jobs this daemon (`owner`) left running died with it; other daemons' jobs are theirs.
    pub fn fail_orphaned_jobs(&mut self, owner: &str) -> Result<u64, CatalogError> {
        let url = self.url.clone();
        self.rt.block_on(async {
            self.client
                .execute(
                    "UPDATE jobs SET state = 'failed', note = 'daemon stopped before the job finished', finished = $1
                     WHERE state IN ('queued', 'running') AND owner = $2",
                    &[&crate::job::now_rfc3339(), &owner],
                )
                .await
                .map_err(err("closing orphaned jobs", &url))
        })
    }
}

pub(crate) fn err<'u>(op: &'static str, url: &'u str) -> impl Fn(tokio_postgres::Error) -> CatalogError + 'u {
    move |source| CatalogError::Postgres { op, url: redact(url), source }
}

async fn open(rt: &Runtime, url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    // The connection task runs whenever this runtime is driven (every call is a block_on on it).
    rt.spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("PostgreSQL connection ended: {e}");
        }
    });
    Ok(client)
}

/// Column types of the staging tables, read from the server once per session, so the COPY
/// BINARY encoder and the tables can never disagree.
struct Staging {
    files: Vec<Type>,
    sources: Vec<Type>,
    rejects: Vec<Type>,
    archives: Vec<Type>,
    /// The merge statements, prepared once per session: parsing and planning them for every
    /// group showed up in the server's profile.
    merge: Merge,
}

struct Merge {
    files: Statement,
    missing: Statement,
    sources: Statement,
    rejects: Statement,
    archives: Statement,
    /// The direct path's part of `MERGE_SOURCES`: contents found as a whole file stop being parts.
    whole: Statement,
}

/// The merge of staged rows into the catalog. Rows go in in the group's order (ids are the
/// import order search lists by).
const MERGE_MISSING: &str = "SELECT DISTINCT s.hash FROM stage_sources s
 WHERE s.checked AND NOT EXISTS (SELECT 1 FROM files f WHERE f.hash = s.hash)";
/// A content is a part only while every place it was found is a part: a file found on its own
/// makes its row a whole file, whichever came first.
const MERGE_SOURCES: &str = "WITH ins AS (
   INSERT INTO sources (hash, job, path, name, raw_name, clean_name, name_key, tags, parent)
   SELECT hash, job, path, name, raw_name, clean_name, name_key, tags::jsonb, parent FROM stage_sources s
    WHERE NOT s.checked OR EXISTS (SELECT 1 FROM files f WHERE f.hash = s.hash)
    ORDER BY ord
   ON CONFLICT (path, hash) DO NOTHING RETURNING hash, parent)
 UPDATE files SET parent = NULL, part_index = NULL, part_track = NULL, part_channel = NULL
   FROM (SELECT DISTINCT hash FROM ins WHERE parent IS NULL) w
  WHERE files.hash = w.hash AND files.parent IS NOT NULL";
/// One row per (path, reason): the last in the group wins, as it would one by one.
const MERGE_REJECTS: &str = "INSERT INTO rejects (job, path, reason, detail)
 SELECT job, path, reason, detail FROM (
   SELECT DISTINCT ON (path, reason) ord, job, path, reason, detail FROM stage_rejects
    ORDER BY path, reason, ord DESC) last
  ORDER BY ord
 ON CONFLICT (path, reason) DO UPDATE SET job = excluded.job, detail = excluded.detail";
const MERGE_ARCHIVES: &str = "INSERT INTO archives (hash, size, job, path, members)
 SELECT hash, size, job, path, members FROM stage_archives ORDER BY ord ON CONFLICT (hash) DO NOTHING";

const STAGING_SQL: &str = "
CREATE TEMP TABLE IF NOT EXISTS stage_sources ON COMMIT DELETE ROWS AS
  SELECT 0::int4 AS ord, hash, job, path, name, raw_name, clean_name, name_key, tags::text AS tags, parent,
         false AS checked
  FROM sources WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS stage_rejects ON COMMIT DELETE ROWS AS
  SELECT 0::int4 AS ord, job, path, reason, detail FROM rejects WITH NO DATA;
CREATE TEMP TABLE IF NOT EXISTS stage_archives ON COMMIT DELETE ROWS AS
  SELECT 0::int4 AS ord, hash, size, job, path, members FROM archives WITH NO DATA;";

async fn staging(client: &Client) -> Result<Staging, tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS stage_files ON COMMIT DELETE ROWS AS
               SELECT 0::int4 AS ord, {} FROM files WITH NO DATA; {STAGING_SQL}",
            FileRow::COLUMNS
        ))
        .await?;
    let mut types = Vec::new();
    for t in ["stage_files", "stage_sources", "stage_rejects", "stage_archives"] {
        let rows = client
            .query(
                "SELECT atttypid FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0
                   AND NOT attisdropped ORDER BY attnum",
                &[&t],
            )
            .await?;
        types.push(
            rows.iter()
                .map(|r| r.try_get::<_, u32>(0).ok().and_then(Type::from_oid).unwrap_or(Type::TEXT))
                .collect::<Vec<Type>>(),
        );
    }
    let cols = FileRow::COLUMNS;
    let merge = Merge {
        files: client
            .prepare(&format!(
                "INSERT INTO files ({cols}) SELECT {cols} FROM stage_files ORDER BY ord
                 ON CONFLICT (hash) DO NOTHING RETURNING hash"
            ))
            .await?,
        missing: client.prepare(MERGE_MISSING).await?,
        sources: client.prepare(MERGE_SOURCES).await?,
        rejects: client.prepare(MERGE_REJECTS).await?,
        archives: client.prepare(MERGE_ARCHIVES).await?,
        whole: client
            .prepare(
                "UPDATE files SET parent = NULL, part_index = NULL, part_track = NULL, part_channel = NULL
                  WHERE hash = ANY($1::bytea[]) AND parent IS NOT NULL",
            )
            .await?,
    };
    let mut it = types.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Ok(Staging { files: next(), sources: next(), rejects: next(), archives: next(), merge })
}

/// The catalog writer's PostgreSQL side.
pub struct PgWriter {
    conn: PgConn,
    staging: Option<Staging>,
    /// Host and data dir: whose jobs these are (`fail_orphaned_jobs`).
    owner: String,
    /// Whether the next group tries the direct path (`copy_direct`): true until a group meets
    /// rows already there (a replay, another daemon importing the same contents), then again
    /// once a merged group inserted all its files.
    direct: bool,
    direct_allowed: bool,
    /// Groups written by the direct path, for tests to see which path ran.
    direct_groups: u64,
}

impl PgWriter {
    pub fn new(conn: PgConn, owner: String) -> PgWriter {
        PgWriter { conn, staging: None, owner, direct: true, direct_allowed: true, direct_groups: 0 }
    }

    /// Runs `attempt` until it succeeds or fails for a reason a retry cannot fix; a lost
    /// connection is re-opened with backoff, forever (the group is never dropped).
    fn retrying<T>(
        &mut self,
        op: &'static str,
        mut attempt: impl FnMut(&mut PgWriter) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, CatalogError> {
        let mut wait = Duration::from_secs(1);
        let mut conflicts = 0u32;
        loop {
            match attempt(self) {
                Ok(v) => return Ok(v),
                Err(e) if is_conflict(&e) => {
                    // The server rolled the group back to break a cycle with another writer
                    // (two daemons inserting the same contents in different orders); the
                    // connection is fine. A short wait, growing, lets the other one commit.
                    conflicts += 1;
                    tracing::info!("{op}: {e}; retrying the group (attempt {})", conflicts + 1);
                    let jitter = u64::from(std::process::id() % 7) * 3;
                    std::thread::sleep(Duration::from_millis((10 * u64::from(conflicts.min(50)) + jitter).min(500)));
                }
                Err(e) if is_transient(&e) => {
                    tracing::warn!(
                        "{op} on {}: {e}; the group is kept, reconnecting in {}s",
                        redact(&self.conn.url),
                        wait.as_secs()
                    );
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(MAX_BACKOFF);
                    self.staging = None;
                    if let Err(e) = self.conn.reconnect() {
                        tracing::warn!("reconnecting to {}: {e}", redact(&self.conn.url));
                    }
                }
                Err(e) => return Err(CatalogError::Postgres { op, url: redact(&self.conn.url), source: e }),
            }
        }
    }

    /// Whether groups try the direct path first (the default); off, every group is merged. The
    /// benchmark measures both.
    pub fn set_direct(&mut self, on: bool) {
        self.direct = on;
        self.direct_allowed = on;
    }

    /// How many groups went in by the direct path (the others were merged).
    pub fn direct_groups(&self) -> u64 {
        self.direct_groups
    }

    pub fn write_group(&mut self, ops: &[Op<'_>]) -> Result<Outcome, CatalogError> {
        self.retrying("committing a batch", |w| {
            // Per session: a reconnect (which clears it) needs the temp tables made again.
            let st = match w.staging.take() {
                Some(st) => st,
                None => w.conn.rt.block_on(staging(&w.conn.client))?,
            };
            let result = w.conn.rt.block_on(write_group(&mut w.conn.client, &st, ops, w.direct));
            w.staging = Some(st);
            let (out, went) = result?;
            w.direct = w.direct_allowed && went != Went::Met;
            w.direct_groups += u64::from(went == Went::Direct);
            Ok(out)
        })
    }

    pub fn upsert_job(&mut self, job: &Job) -> Result<(), CatalogError> {
        let info = job.info();
        let (paths, counts, rejects, skipped) = (
            to_json(&info.paths),
            to_json(&info.counts),
            to_json(&info.rejects_by_reason),
            to_json(&info.skipped_by_ext),
        );
        let owner = self.owner.clone();
        self.retrying("writing a job row", |w| {
            w.conn.rt.block_on(w.conn.client.execute(
                "INSERT INTO jobs (id, kind, paths, state, counts, rejects_by_reason, skipped_by_ext, discovery_done,
                   started, finished, elapsed_s, note, owner)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, counts = excluded.counts,
                   rejects_by_reason = excluded.rejects_by_reason, skipped_by_ext = excluded.skipped_by_ext,
                   discovery_done = excluded.discovery_done, finished = excluded.finished,
                   elapsed_s = excluded.elapsed_s, note = excluded.note",
                &[
                    &(info.id as i64),
                    &info.kind,
                    &paths,
                    &info.state.as_str(),
                    &counts,
                    &rejects,
                    &skipped,
                    &info.discovery_done,
                    &info.started,
                    &info.finished,
                    &info.elapsed_s,
                    &info.note,
                    &owner,
                ],
            ))
        })?;
        Ok(())
    }

    /// An export's files; the latest export of a path wins (one statement over arrays).
    pub fn upsert_exports(&mut self, job: u64, target: &str, files: &[ExportedFile]) -> Result<(), CatalogError> {
        let dests: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        let hashes: Vec<&[u8]> = files.iter().map(|f| &f.1[..]).collect();
        let job = job as i64;
        self.retrying("recording export files", |w| {
            w.conn.rt.block_on(w.conn.client.execute(
                "INSERT INTO exports (dest, job, target, hash)
                 SELECT DISTINCT ON (d) d, $1, $2, h FROM unnest($3::text[], $4::bytea[]) WITH ORDINALITY AS u(d, h, n)
                 ORDER BY d, n DESC
                 ON CONFLICT (dest) DO UPDATE SET job = excluded.job, target = excluded.target, hash = excluded.hash",
                &[&job, &target, &dests, &hashes],
            ))
        })?;
        Ok(())
    }
}

impl PgWriter {
    /// The benchmark's ceiling (`benches/postgres.rs`): the same COPY BINARY of the same rows
    /// into `raw_*` tables shaped like the staging ones, with no index and no merge.
    pub fn copy_raw(&mut self, ops: &[Op<'_>]) -> Result<(), CatalogError> {
        let url = self.conn.url.clone();
        let e = |op| err(op, &url);
        // Made once per session, as the merge path's staging is, so the ceiling pays for no
        // catalog statement the merge path skips.
        if self.staging.is_none() {
            let conn = &self.conn;
            let st = conn.rt.block_on(async {
                let st = staging(&conn.client).await.map_err(e("reading staging types"))?;
                conn.client
                    .batch_execute(&format!(
                        "CREATE TABLE IF NOT EXISTS raw_files AS SELECT 0::int4 AS ord, {} FROM files WITH NO DATA;
                         CREATE TABLE IF NOT EXISTS raw_sources AS SELECT * FROM stage_sources WITH NO DATA;",
                        FileRow::COLUMNS
                    ))
                    .await
                    .map_err(e("creating raw tables"))?;
                Ok::<_, CatalogError>(st)
            })?;
            self.staging = Some(st);
        }
        let (conn, Some(st)) = (&mut self.conn, &self.staging) else { return Ok(()) };
        conn.rt.block_on(async {
            let tx = conn.client.transaction().await.map_err(e("starting"))?;
            copy_ops(&tx, st, ops, "raw").await.map_err(e("copying"))?;
            tx.commit().await.map_err(e("committing"))
        })
    }

    /// The benchmark's row-by-statement path: multi-row `INSERT ... ON CONFLICT DO NOTHING`
    /// of `per_statement` rows each, files then sources, in one transaction.
    pub fn insert_rows(&mut self, ops: &[Op<'_>], per_statement: usize) -> Result<(), CatalogError> {
        let url = self.conn.url.clone();
        let e = |op| err(op, &url);
        let conn = &mut self.conn;
        let files: Vec<FileRow<'_>> = ops
            .iter()
            .filter_map(|op| match op {
                Op::File { id, size, file, source } => {
                    Some(FileRow::of(id, *size, file, source.job.id, source.part_of.as_ref()))
                }
                _ => None,
            })
            .collect();
        struct Src<'a> {
            hash: &'a [u8],
            job: i64,
            s: &'a super::Source,
            tags: Option<String>,
            name_key: String,
        }
        let sources: Vec<Src<'_>> = ops
            .iter()
            .filter_map(|op| match op {
                Op::File { id, source, .. } | Op::Source { id, source } => Some(Src {
                    hash: &id[..],
                    job: source.job.id as i64,
                    s: source,
                    tags: tags_json(source),
                    name_key: name_key(source),
                }),
                _ => None,
            })
            .collect();
        let per = per_statement.max(1);
        conn.rt.block_on(async {
            let tx = conn.client.transaction().await.map_err(e("starting"))?;
            for chunk in files.chunks(per) {
                let mut sql = format!("INSERT INTO files ({}) VALUES ", FileRow::COLUMNS);
                let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * FileRow::COUNT);
                for (i, r) in chunk.iter().enumerate() {
                    let n = i * FileRow::COUNT;
                    let ph: Vec<String> = (1..=FileRow::COUNT).map(|k| format!("${}", n + k)).collect();
                    sql.push_str(&format!("{}({})", if i == 0 { "" } else { ", " }, ph.join(", ")));
                    params.extend_from_slice(&r.pg_values());
                }
                sql.push_str(" ON CONFLICT (hash) DO NOTHING");
                tx.execute(sql.as_str(), &params).await.map_err(e("inserting files"))?;
            }
            for chunk in sources.chunks(per) {
                let mut sql = "INSERT INTO sources (hash, job, path, name, clean_name, name_key, tags, parent) VALUES "
                    .to_string();
                let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(chunk.len() * 7);
                for (i, r) in chunk.iter().enumerate() {
                    let n = i * 7;
                    sql.push_str(&format!(
                        "{}(${}, ${}, ${}, ${}, ${}, ${}, ${}::text::jsonb, NULL)",
                        if i == 0 { "" } else { ", " },
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6,
                        n + 7
                    ));
                    params.extend_from_slice(&[
                        &r.hash,
                        &r.job,
                        &r.s.path,
                        &r.s.name,
                        &r.s.clean_name,
                        &r.name_key,
                        &r.tags,
                    ]);
                }
                sql.push_str(" ON CONFLICT (path, hash) DO NOTHING");
                tx.execute(sql.as_str(), &params).await.map_err(e("inserting sources"))?;
            }
            tx.commit().await.map_err(e("committing"))
        })
    }
}

/// How many rows of each kind a group copied (and whether any source waits on a check).
struct Copied {
    files: usize,
    sources: usize,
    rejects: usize,
    archives: usize,
    checked: bool,
}

impl Copied {
    fn count(ops: &[Op<'_>]) -> Copied {
        let mut c = Copied { files: 0, sources: 0, rejects: 0, archives: 0, checked: false };
        for op in ops {
            match op {
                Op::File { .. } => {
                    c.files += 1;
                    c.sources += 1;
                }
                Op::Source { .. } => c.sources += 1,
                Op::Checked { .. } => {
                    c.sources += 1;
                    c.checked = true;
                }
                Op::Reject { .. } => c.rejects += 1,
                Op::Archive { .. } => c.archives += 1,
            }
        }
        c
    }
}

/// COPY BINARY of a group's rows into `{prefix}_files`, `_sources`, `_rejects`, `_archives`
/// (the staging tables; the benchmark's unindexed tables for its ceiling), each row with its
/// position in the group (`ord`).
async fn copy_ops(
    tx: &tokio_postgres::Transaction<'_>,
    st: &Staging,
    ops: &[Op<'_>],
    prefix: &str,
) -> Result<Copied, tokio_postgres::Error> {
    let c = Copied::count(ops);
    if c.files > 0 {
        copy_files(tx, &st.files, ops, &format!("{prefix}_files"), true).await?;
    }
    if c.sources > 0 {
        copy_sources(tx, &st.sources, ops, &format!("{prefix}_sources"), true).await?;
    }
    copy_rest(tx, st, ops, prefix, &c).await?;
    Ok(c)
}

/// The group's `files` rows into `table`: a staging table (with `ord` first) or, on the direct
/// path, `files` itself (rows in group order, which is the order ids are drawn in).
async fn copy_files(
    tx: &tokio_postgres::Transaction<'_>,
    types: &[Type],
    ops: &[Op<'_>],
    table: &str,
    with_ord: bool,
) -> Result<(), tokio_postgres::Error> {
    let (sql, types) = if with_ord {
        (format!("COPY {table} FROM STDIN (FORMAT binary)"), types)
    } else {
        (format!("COPY {table} ({}) FROM STDIN (FORMAT binary)", FileRow::COLUMNS), types.get(1..).unwrap_or_default())
    };
    let sink = tx.copy_in(&sql).await?;
    let mut w = std::pin::pin!(BinaryCopyInWriter::new(sink, types));
    for (ord, op) in ops.iter().enumerate() {
        if let Op::File { id, size, file, source } = op {
            let r = FileRow::of(id, *size, file, source.job.id, source.part_of.as_ref());
            let ord = ord as i32;
            let mut values: [&(dyn ToSql + Sync); FileRow::COUNT + 1] = [&ord; FileRow::COUNT + 1];
            values[1..].copy_from_slice(&r.pg_values());
            let values = if with_ord { &values[..] } else { &values[1..] };
            w.as_mut().write(values).await?;
        }
    }
    w.finish().await?;
    Ok(())
}

/// The group's sources into `table`: a staging table (`staged`: `ord` first, `tags` as text,
/// `checked` last, every source) or, on the direct path, `sources` itself (no `Op::Checked`
/// reaches it). `types` are the staging table's, read from the server, so the encoder and the
/// tables cannot disagree. Returns the contents found whole (`Op::Source` without a parent),
/// whose rows stop being parts (as the merge's update does).
async fn copy_sources<'o>(
    tx: &tokio_postgres::Transaction<'_>,
    types: &[Type],
    ops: &'o [Op<'_>],
    table: &str,
    staged: bool,
) -> Result<Vec<&'o [u8]>, tokio_postgres::Error> {
    const COLUMNS: &str = "hash, job, path, name, raw_name, clean_name, name_key, tags, parent";
    let (sql, types) = if staged {
        (format!("COPY {table} FROM STDIN (FORMAT binary)"), types.to_vec())
    } else {
        let mut direct: Vec<Type> = types.get(1..10).map(<[Type]>::to_vec).unwrap_or_default();
        if let Some(tags) = direct.get_mut(7) {
            *tags = Type::JSONB;
        }
        (format!("COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"), direct)
    };
    let sink = tx.copy_in(&sql).await?;
    let mut w = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    let mut whole = Vec::new();
    for (ord, op) in ops.iter().enumerate() {
        let (id, s, checked) = match op {
            Op::File { id, source, .. } | Op::Source { id, source } => (id, source, false),
            Op::Checked { id, source } => (id, source, true),
            Op::Reject { .. } | Op::Archive { .. } => continue,
        };
        if matches!(op, Op::Source { .. }) && s.part_of.is_none() {
            whole.push(&id[..]);
        }
        let ord = ord as i32;
        let job = s.job.id as i64;
        let tags = tags_json(s);
        let jsonb = tags.as_deref().map(Jsonb);
        let name_key = name_key(s);
        let parent = s.part_of.as_ref().map(|p| &p.parent[..]);
        let row: [&(dyn ToSql + Sync); 11] = [
            &ord,
            &&id[..],
            &job,
            &s.path,
            &s.name,
            &s.raw_name.as_deref(),
            &s.clean_name,
            &name_key,
            if staged { &tags } else { &jsonb },
            &parent,
            &checked,
        ];
        w.as_mut().write(if staged { &row[..] } else { &row[1..10] }).await?;
    }
    w.finish().await?;
    Ok(whole)
}

/// Rejects and archives into their staging tables (both paths merge them: a reject replaces an
/// older one of the same path and reason, which COPY cannot do).
async fn copy_rest(
    tx: &tokio_postgres::Transaction<'_>,
    st: &Staging,
    ops: &[Op<'_>],
    prefix: &str,
    c: &Copied,
) -> Result<(), tokio_postgres::Error> {
    if c.rejects > 0 {
        let sink = tx.copy_in(&format!("COPY {prefix}_rejects FROM STDIN (FORMAT binary)")).await?;
        let mut w = std::pin::pin!(BinaryCopyInWriter::new(sink, &st.rejects));
        for (ord, op) in ops.iter().enumerate() {
            if let Op::Reject { job, path, reason, detail } = op {
                let (ord, job) = (ord as i32, *job as i64);
                w.as_mut().write(&[&ord, &job, path, reason, detail]).await?;
            }
        }
        w.finish().await?;
    }
    if c.archives > 0 {
        let sink = tx.copy_in(&format!("COPY {prefix}_archives FROM STDIN (FORMAT binary)")).await?;
        let mut w = std::pin::pin!(BinaryCopyInWriter::new(sink, &st.archives));
        for (ord, op) in ops.iter().enumerate() {
            if let Op::Archive { id, size, job, path, members } = op {
                let (ord, size, job, members) = (ord as i32, *size as i64, *job as i64, *members as i64);
                w.as_mut().write(&[&ord, &&id[..], &size, &job, path, &members]).await?;
            }
        }
        w.finish().await?;
    }
    Ok(())
}

/// A JSON text sent as `jsonb` in binary COPY: the format's version byte, then the text.
#[derive(Debug)]
struct Jsonb<'a>(&'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The direct path: a group's files and sources COPYed straight into `files` and `sources`,
/// which is what a group of new contents needs (no staging table written and read again, no
/// anti-join). It only runs inside a savepoint: a row already there (a replayed group, another
/// daemon's row) fails the COPY with a unique violation, and the caller rolls back to the
/// savepoint and merges instead, so the outcome is the merge's either way.
async fn copy_direct(
    tx: &tokio_postgres::Transaction<'_>,
    st: &Staging,
    ops: &[Op<'_>],
    c: &Copied,
) -> Result<Outcome, tokio_postgres::Error> {
    let mut out = Outcome::default();
    if c.files > 0 {
        copy_files(tx, &st.files, ops, "files", false).await?;
        out.new_files.extend(ops.iter().filter_map(|op| match op {
            Op::File { id, .. } => Some(**id),
            _ => None,
        }));
    }
    if c.sources > 0 {
        let whole = copy_sources(tx, &st.sources, ops, "sources", false).await?;
        if !whole.is_empty() {
            tx.execute(&st.merge.whole, &[&whole]).await?;
        }
    }
    Ok(out)
}

/// How a group went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Went {
    Direct,
    /// Merged, every file row new.
    Merged,
    /// Merged, and it met rows already there (the caller takes it as a sign the next group
    /// will too).
    Met,
}

/// One group in one transaction. Directly (`copy_direct`) when `direct` and no row waits on a
/// check; else, or when the direct COPY meets a row already there, COPY each kind of row into
/// its staging table and merge.
async fn write_group(
    client: &mut Client,
    st: &Staging,
    ops: &[Op<'_>],
    direct: bool,
) -> Result<(Outcome, Went), tokio_postgres::Error> {
    let mut tx = client.transaction().await?;
    let c = Copied::count(ops);
    if direct && !c.checked {
        let sp = tx.savepoint("direct").await?;
        match copy_direct(&sp, st, ops, &c).await {
            Ok(out) => {
                sp.commit().await?;
                merge_rest(&tx, st, ops, &c).await?;
                tx.commit().await?;
                return Ok((out, Went::Direct));
            }
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => sp.rollback().await?,
            Err(e) => return Err(e),
        }
        let (out, _) = merge_group(&tx, st, ops).await?;
        tx.commit().await?;
        return Ok((out, Went::Met));
    }
    let (out, met) = merge_group(&tx, st, ops).await?;
    tx.commit().await?;
    Ok((out, if met { Went::Met } else { Went::Merged }))
}

async fn merge_rest(
    tx: &tokio_postgres::Transaction<'_>,
    st: &Staging,
    ops: &[Op<'_>],
    c: &Copied,
) -> Result<(), tokio_postgres::Error> {
    copy_rest(tx, st, ops, "stage", c).await?;
    if c.rejects > 0 {
        tx.execute(&st.merge.rejects, &[]).await?;
    }
    if c.archives > 0 {
        tx.execute(&st.merge.archives, &[]).await?;
    }
    Ok(())
}

/// COPY each kind of row into its staging table, then merge. The second value: whether a file
/// row was there already.
async fn merge_group(
    tx: &tokio_postgres::Transaction<'_>,
    st: &Staging,
    ops: &[Op<'_>],
) -> Result<(Outcome, bool), tokio_postgres::Error> {
    let mut out = Outcome::default();
    let Copied { files, sources, rejects, archives, checked } = copy_ops(tx, st, ops, "stage").await?;

    let m = &st.merge;
    if files > 0 {
        for row in tx.query(&m.files, &[]).await? {
            if let Ok(id) =
                row.try_get::<_, &[u8]>(0).map_err(|_| ()).and_then(|b| ContentId::try_from(b).map_err(|_| ()))
            {
                out.new_files.insert(id);
            }
        }
    }
    if checked {
        for row in tx.query(&m.missing, &[]).await? {
            if let Ok(id) =
                row.try_get::<_, &[u8]>(0).map_err(|_| ()).and_then(|b| ContentId::try_from(b).map_err(|_| ()))
            {
                out.missing.insert(id);
            }
        }
    }
    if sources > 0 {
        tx.execute(&m.sources, &[]).await?;
    }
    if rejects > 0 {
        tx.execute(&m.rejects, &[]).await?;
    }
    if archives > 0 {
        tx.execute(&m.archives, &[]).await?;
    }
    let met = out.new_files.len() < files;
    Ok((out, met))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgresql://h/db?x=a@b"), "postgresql://h/db?x=a@b");
        assert!(is_postgres_url("postgresql://h/db") && !is_postgres_url("sqlite:/x"));
    }
}
