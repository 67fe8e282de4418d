//! Object store hygiene: `gc` removes objects no catalog row names, and stale temp files;
//! `verify` re-hashes every object against its name and looks for catalogued objects that are gone.
//!
//! Why it exists: the store is written before the catalog (no row without a durable object), so a
//! crash, a failed batch or a cancelled job can leave objects no row names, and nothing else would
//! ever remove them; and an object is only as good as the disk under it, which a re-hash checks.
//!
//! Both walk the store one fan-out folder at a time beside that folder's slice of the catalog's
//! ids (`sqlite::object_ids_with_prefix`, `PgReader::object_ids_with_prefix`), so they hold
//! 1/256 of the ids at once whatever the size of the catalog, and both read it through their own
//! connection ([`CatalogIds`]): they never hold the catalog writer (imports keep committing) nor
//! the engine's query connection (`status` and `search` keep answering). Only files with an
//! object's exact name are judged; anything else under `objects/` is counted as ignored and
//! never touched.
//!
//! Either store works the same way. On PostgreSQL the catalog may also hold rows of other
//! daemons, each with its own data dir and store (one daemon per data dir: `Engine::start` locks
//! it). gc keeps whatever any row names; what another daemon's writes can change here is only
//! which rows exist (its whole copy of a content this daemon has as a part makes that row whole),
//! and either way a row names the objects gc keeps. verify reports as missing a row whose object
//! this store lacks, which is what an export from this daemon would find.

pub mod gc;
pub mod verify;

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use rusqlite::Connection;

use crate::catalog::pg_query::PgReader;
use crate::catalog::{sqlite, CatalogError, Location};
use crate::dedupe::ContentId;
use crate::objects::ObjectStore;

#[derive(Debug, thiserror::Error)]
pub enum HygieneError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{op} catalog {path}: {source}")]
    Query { op: &'static str, path: PathBuf, source: rusqlite::Error },
    /// The daemon began to shut down; the walk stopped between two fan-out folders.
    #[error("stopped: the daemon is shutting down")]
    Stopped,
}

/// The objects of one fan-out folder, and what else was found there.
pub(crate) struct Listing {
    /// Regular files with an object's name, sorted by id (stable reports).
    pub objects: Vec<(ContentId, PathBuf)>,
    /// Entries that are not objects: other names, folders, links.
    pub ignored: u64,
    /// Entries that could not be read from the folder.
    pub errors: Vec<(PathBuf, io::Error)>,
}

/// Lists `objects/<prefix>`. A missing folder is an empty one (`ObjectStore::open` creates them
/// all; one deleted by hand holds nothing). Types come from the directory entries, so listing
/// costs no `stat` per object.
pub(crate) fn list_objects(store: &ObjectStore, prefix: u8) -> Result<Listing, (PathBuf, io::Error)> {
    let dir = store.fan_out_dir(prefix);
    let mut listing = Listing { objects: Vec::new(), ignored: 0, errors: Vec::new() };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(listing),
        Err(e) => return Err((dir, e)),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                listing.errors.push((dir.clone(), e));
                continue;
            }
        };
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        match ObjectStore::id_of_name(prefix, &entry.file_name()) {
            Some(id) if is_file => listing.objects.push((id, entry.path())),
            _ => listing.ignored += 1,
        }
    }
    listing.objects.sort_unstable_by_key(|(id, _)| *id);
    Ok(listing)
}

/// How long one PostgreSQL statement of gc or verify may take. gc asks its last question while
/// holding a dedupe stripe lock that shards and the writer wait on, and shutdown waits for a
/// walk to reach its next folder: a lost server or another session's exclusive lock on `files`
/// must cost a failed run, not a stalled daemon. A folder's ids take milliseconds.
const PG_STATEMENT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The catalog as hygiene reads it, on a connection of its own.
pub(crate) enum CatalogIds {
    Sqlite { conn: Connection, path: PathBuf },
    Postgres(PgReader),
}

impl CatalogIds {
    pub fn open(at: &Location) -> Result<CatalogIds, HygieneError> {
        Ok(match at {
            Location::Sqlite(path) => CatalogIds::Sqlite { conn: sqlite::open_reader(path)?, path: path.clone() },
            Location::Postgres(url) => CatalogIds::Postgres(PgReader::open(url)?),
        })
    }

    /// The ids the catalog names objects by in one fan-out folder, read in one statement (one
    /// snapshot), each with whether its object must exist.
    pub fn with_prefix(&self, prefix: u8) -> Result<HashMap<ContentId, bool>, HygieneError> {
        let ids = match self {
            CatalogIds::Sqlite { conn, path } => sqlite::object_ids_with_prefix(conn, prefix)
                .map_err(|source| HygieneError::Query { op: "listing ids in", path: path.clone(), source })?,
            CatalogIds::Postgres(reader) => reader.object_ids_with_prefix(prefix, PG_STATEMENT_LIMIT)?,
        };
        let mut out = HashMap::with_capacity(ids.len());
        for (id, required) in ids {
            *out.entry(id).or_insert(false) |= required;
        }
        Ok(out)
    }

    /// Whether a row names `id`'s object now (a fresh statement): its own row or a part's.
    pub fn names_object(&self, id: &ContentId) -> Result<bool, HygieneError> {
        match self {
            CatalogIds::Sqlite { conn, path } => sqlite::names_object(conn, id).map_err(|source| HygieneError::Query {
                op: "looking for an object's rows in",
                path: path.clone(),
                source,
            }),
            CatalogIds::Postgres(reader) => Ok(reader.names_object(id, PG_STATEMENT_LIMIT)?),
        }
    }
}

/// Appends to a report's list unless it holds `midictl::protocol::REPORT_LIST_MAX` entries already.
pub(crate) fn push_capped<T>(list: &mut Vec<T>, item: T) {
    if list.len() < midictl::protocol::REPORT_LIST_MAX {
        list.push(item);
    }
}
