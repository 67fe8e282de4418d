//! `gc`: removes objects no `files` row names, and temp files left in `objects/tmp`. A row names
//! its content's object and, for a split part (which has no object of its own), its parent's.
//!
//! It runs while imports run, so the one thing it must never do is remove an object that a row
//! names or will name once a batch in flight commits. The argument, from what the rest of the
//! daemon guarantees:
//!
//! 1. A `files` row for id X comes only from a shard that won `DedupeIndex::claim(X)`; the claim
//!    (Pending) stays until the writer has committed the row and put X's fingerprint in the index
//!    (`set_committed`, both under X's stripe lock), or the batch failed (`release`, no row).
//!    Rows from before the daemon started are in the index as fingerprints. So while a row for X
//!    is committed or in flight *and its claim was taken*, the index knows X.
//! 2. A shard writes the object before it claims, and that write keeps an object already under
//!    the name (EEXIST is success; it sets that object's mtime to now, see below). So there is a
//!    window, write to claim, in which a shard relies on an object the index says nothing about.
//!
//! The rule, for an object whose id is not among the catalog's ids read for its folder and that
//! is older than the grace period: under X's stripe lock (`DedupeIndex::if_unknown`), keep it if
//! the index knows X; else ask the catalog again (a fresh statement) and keep it if a row names
//! X; else unlink it. The lock makes "nobody knows X" and the unlink one step as far as claims
//! are concerned: a claim of X comes before (gc keeps the object) or after the unlink.
//!
//! 3. A part's row names its parent's object (a part has none of its own). Parts are made only
//!    by the shard that won the parent's claim, after `ensure`, and their rows go out with or
//!    before the parent's: while they are in flight the index knows the parent, and once they
//!    are committed the catalog names it (`CatalogIds::names_object`), even if the parent's own row
//!    never committed.
//!
//! Point 1 covers every row whose claim was taken. Point 2's window is closed on the shard's
//! side: it takes the store's collection mark before it writes, and after winning the claim calls
//! `ObjectStore::ensure`, which, when a collection ran since the mark (the store's counter is odd
//! while one runs and is bumped at both ends), checks the object and writes it again if it is
//! gone. From the claim on, gc keeps the object (the index knows X), and the row commits only
//! after the writer's `syncfs`, so the rewritten object is durable first. Without a collection
//! in the window, nothing was removed in it.
//!
//! All of this rests on one process per data dir (its index sees every claim on the store),
//! which `Engine::start` enforces with a lock. Two more lines of defence the argument does not
//! need: the second catalog check covers rows another process committed to the same catalog (the
//! index knows only this daemon's), and objects modified within the grace period are kept
//! whatever the index says. A write that finds its object in place refreshes the object's mtime
//! (`objects::link_fd`), so the grace period also covers a row the index cannot know of: one a
//! crashed daemon sent to a PostgreSQL server that commits it after the restart read the ids.
//!
//! A dry run takes no lock and removes nothing: its list is what a run at that moment would
//! remove. An orphan whose 46-bit fingerprint equals a catalogued content's reads as known and is
//! kept: conservative.
//!
//! Temp files: named ones exist only while the temp-and-rename fallback writes an object
//! (milliseconds), spills are unlinked at once, so one older than the grace period is a leftover.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use midictl::protocol::GcReport;

use super::{list_objects, push_capped, CatalogIds, HygieneError};
use crate::catalog::Location;
use crate::dedupe::{ContentId, DedupeIndex};
use crate::objects::ObjectStore;

/// Objects and temp files modified this recently are kept. Not what makes gc safe during an
/// import (see the module doc); a margin for writers the index cannot see.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// List what would go; remove nothing.
    pub dry_run: bool,
    pub grace: Duration,
}

/// What became of one unreferenced, old object.
enum Fate {
    Removed,
    /// Claimed or committed since the folder's ids were read.
    Known,
    /// It went by itself meanwhile (another gc, a hand): nothing freed.
    Gone,
    Failed(String),
}

/// Runs one collection over the whole store. `stop` is checked between fan-out folders.
pub fn collect(
    store: &ObjectStore,
    index: &DedupeIndex,
    catalog: &Location,
    opts: GcOptions,
    stop: &AtomicBool,
) -> Result<GcReport, HygieneError> {
    let started = Instant::now();
    // Ages are judged against the start, so a long run does not start collecting what an import
    // wrote after it began.
    let cutoff = SystemTime::now().checked_sub(opts.grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let catalog = CatalogIds::open(catalog)?;
    // Marks the store as collecting for shards (`ObjectStore::ensure`); a dry run removes nothing.
    let _collection = (!opts.dry_run).then(|| store.begin_collection());
    let mut report = GcReport { dry_run: opts.dry_run, grace_s: opts.grace.as_secs(), ..GcReport::default() };
    for prefix in 0..=255u8 {
        if stop.load(Ordering::Relaxed) {
            return Err(HygieneError::Stopped);
        }
        let referenced = catalog.with_prefix(prefix)?;
        let listing = match list_objects(store, prefix) {
            Ok(listing) => listing,
            Err((dir, e)) => {
                push_capped(&mut report.errors, format!("listing {}: {e}", dir.display()));
                continue;
            }
        };
        report.ignored += listing.ignored;
        for (dir, e) in listing.errors {
            push_capped(&mut report.errors, format!("listing {}: {e}", dir.display()));
        }
        for (id, path) in listing.objects {
            report.scanned += 1;
            if referenced.contains_key(&id) {
                report.referenced += 1;
                continue;
            }
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    push_capped(&mut report.errors, format!("{}: {e}", path.display()));
                    continue;
                }
            };
            if is_new(&meta, cutoff) {
                report.kept_new += 1;
                continue;
            }
            let fate = if opts.dry_run {
                if index.get(&id).is_some() {
                    Fate::Known
                } else {
                    Fate::Removed
                }
            } else {
                // A catalog that cannot answer ends the run: every further object would ask it
                // again, each under its stripe lock.
                index.if_unknown(&id, || remove_unreferenced(&catalog, &id, &path)).unwrap_or(Ok(Fate::Known))?
            };
            match fate {
                Fate::Removed => {
                    report.removed += 1;
                    report.bytes_freed += meta.len();
                    push_capped(&mut report.paths, path.display().to_string());
                }
                Fate::Known => report.kept_pending += 1,
                Fate::Gone => {}
                Fate::Failed(why) => push_capped(&mut report.errors, why),
            }
        }
    }
    collect_temp(store.tmp_dir(), cutoff, opts.dry_run, &mut report);
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Called with `id`'s stripe lock held and the index knowing nothing of `id`: the last look at
/// the catalog, then the unlink. The query cannot deadlock with the writer, which takes stripe
/// locks only outside its transactions (`get` before, `set_committed`/`release` after), and a
/// read waits for no writer's rows (WAL; MVCC). It can wait on other things: SQLite's
/// `busy_timeout` during a WAL reset, or on PostgreSQL a lost server or another session's
/// exclusive lock on `files`, so a PostgreSQL statement is bounded (`PG_STATEMENT_LIMIT`). An
/// error keeps the object and ends the run.
fn remove_unreferenced(catalog: &CatalogIds, id: &ContentId, path: &Path) -> Result<Fate, HygieneError> {
    if catalog.names_object(id)? {
        return Ok(Fate::Known);
    }
    Ok(match std::fs::remove_file(path) {
        Ok(()) => Fate::Removed,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Fate::Gone,
        Err(e) => Fate::Failed(format!("removing {}: {e}", path.display())),
    })
}

/// Modified after `cutoff`, or of unknown age (kept: doubt keeps).
fn is_new(meta: &std::fs::Metadata, cutoff: SystemTime) -> bool {
    meta.modified().map(|m| m > cutoff).unwrap_or(true)
}

/// Removes (or, dry, counts) regular files in `objects/tmp` older than `cutoff`.
fn collect_temp(tmp: &Path, cutoff: SystemTime, dry_run: bool, report: &mut GcReport) {
    let entries = match std::fs::read_dir(tmp) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            push_capped(&mut report.errors, format!("listing {}: {e}", tmp.display()));
            return;
        }
    };
    for entry in entries {
        let path: PathBuf = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                push_capped(&mut report.errors, format!("listing {}: {e}", tmp.display()));
                continue;
            }
        };
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => {
                report.ignored += 1;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                push_capped(&mut report.errors, format!("{}: {e}", path.display()));
                continue;
            }
        };
        if is_new(&meta, cutoff) {
            continue;
        }
        let removed = if dry_run { Ok(()) } else { std::fs::remove_file(&path) };
        match removed {
            Ok(()) => {
                report.temp_removed += 1;
                report.bytes_freed += meta.len();
                push_capped(&mut report.paths, path.display().to_string());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => push_capped(&mut report.errors, format!("removing {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use rusqlite::{params, Connection};

    use super::*;
    use crate::catalog::sqlite;
    use crate::dedupe::{content_id, to_hex};

    struct Store {
        _dir: tempfile::TempDir,
        store: ObjectStore,
        catalog: PathBuf,
        writer: Connection,
        index: DedupeIndex,
    }

    impl Store {
        fn new() -> Store {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = ObjectStore::open(dir.path()).expect("store");
            let catalog = dir.path().join("catalog.db");
            let writer = sqlite::open_writer(&catalog).expect("catalog");
            Store { _dir: dir, store, catalog, writer, index: DedupeIndex::new() }
        }

        /// An object file for `bytes`, modified `age` ago.
        fn object(&self, bytes: &[u8], age: Duration) -> (ContentId, PathBuf) {
            let id = content_id(bytes);
            self.store.write_sync(&id, bytes, 0, 0).expect("write");
            let path = self.store.path_of(&id);
            age_file(&path, age);
            (id, path)
        }

        fn catalogue(&self, id: &ContentId) {
            self.writer
                .execute(
                    "INSERT INTO files (hash, size, format, tracks, channels, notes, drum_notes, events,
                       duration_ticks, duration_s, repairs, job) VALUES (?1, 1, 0, 1, 1, 1, 0, 1, 1, 1.0, '', 1)",
                    params![&id[..]],
                )
                .expect("row");
        }

        fn gc(&self, dry_run: bool) -> GcReport {
            let opts = GcOptions { dry_run, grace: DEFAULT_GRACE };
            collect(&self.store, &self.index, &Location::Sqlite(self.catalog.clone()), opts, &AtomicBool::new(false))
                .expect("gc")
        }
    }

    fn age_file(path: &Path, age: Duration) {
        let f = fs::File::options().write(true).open(path).expect("open");
        f.set_modified(SystemTime::now() - age).expect("set mtime");
    }

    const OLD: Duration = Duration::from_secs(3 * 86_400);

    /// The safety rule: referenced, claimed (pending), committed-since-the-scan and new objects are
    /// kept; only an old object nobody knows goes.
    #[test]
    fn only_old_objects_nobody_knows_are_removed() {
        let s = Store::new();
        let (referenced, referenced_path) = s.object(b"catalogued", OLD);
        s.catalogue(&referenced);
        let (_, orphan_path) = s.object(b"orphan", OLD);
        let (pending, pending_path) = s.object(b"claimed by a shard, row not committed", OLD);
        assert_eq!(s.index.claim(pending), None);
        let (committed, committed_path) = s.object(b"committed in the index", OLD);
        s.index.set_committed(&committed, true);
        let (_, new_path) = s.object(b"written a minute ago", Duration::from_secs(60));
        let foreign = s.store.fan_out_dir(0x12).join("notes.txt");
        fs::write(&foreign, b"not an object").expect("foreign");
        let stale_temp = s.store.temp_path(&[1; 16], 0, 1);
        fs::write(&stale_temp, b"left by a crash").expect("temp");
        age_file(&stale_temp, OLD);
        let fresh_temp = s.store.temp_path(&[2; 16], 0, 2);
        fs::write(&fresh_temp, b"being written").expect("temp");

        let dry = s.gc(true);
        assert!(orphan_path.exists() && stale_temp.exists(), "a dry run removes nothing");
        assert_eq!((dry.removed, dry.temp_removed), (1, 1), "{dry:#?}");

        let r = s.gc(false);
        assert_eq!(r.scanned, 5, "{r:#?}");
        assert_eq!(r.referenced, 1);
        assert_eq!(r.removed, 1);
        assert_eq!(r.kept_pending, 2);
        assert_eq!(r.kept_new, 1);
        assert_eq!(r.temp_removed, 1);
        assert_eq!(r.ignored, 1);
        assert_eq!(r.bytes_freed, (b"orphan".len() + b"left by a crash".len()) as u64);
        assert_eq!(r.paths, dry.paths, "the dry run listed what went");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(!orphan_path.exists() && !stale_temp.exists());
        for kept in [&referenced_path, &pending_path, &committed_path, &new_path, &foreign, &fresh_temp] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }

        // A released claim (its batch failed) leaves a true orphan: the next gc takes it.
        s.index.release(&pending);
        assert_eq!(s.gc(false).removed, 1);
        assert!(!pending_path.exists());
    }

    /// A row committed after the folder's ids were read, by a writer the index does not know
    /// (another process): the check under the lock still finds it.
    #[test]
    fn the_catalog_is_asked_again_before_an_unlink() {
        let s = Store::new();
        let (id, path) = s.object(b"late row", OLD);
        let catalog = CatalogIds::open(&Location::Sqlite(s.catalog.clone())).expect("reader");
        s.catalogue(&id);
        assert!(matches!(remove_unreferenced(&catalog, &id, &path), Ok(Fate::Known)));
        assert!(path.exists());
    }

    /// The race of the module doc, step by step: a shard's write finds an old orphan under the
    /// name (and keeps it), gc removes it before the shard claims, the shard's `ensure` puts it
    /// back. Without `ensure` the row would name a missing object.
    #[test]
    fn a_shard_between_write_and_claim_gets_its_object_back() {
        let s = Store::new();
        let bytes = b"the same content, imported again";
        let (id, path) = s.object(bytes, OLD);
        let mark = s.store.mark();
        s.store.write_sync(&id, bytes, 0, 1).expect("write finds the orphan");
        // The write refreshed the orphan's mtime, which alone would keep it from this gc; that
        // is a margin, not the guarantee, so it is undone here to test `ensure` without it.
        age_file(&path, OLD);
        assert_eq!(s.gc(false).removed, 1, "gc ran inside the window");
        assert!(!path.exists());
        assert_eq!(s.index.claim(id), None);
        assert!(s.store.ensure(&id, bytes, mark, 0, 2).expect("ensure"));
        assert_eq!(content_id(&fs::read_to_string(&path).expect("object").into_bytes()), id);
        // From the claim on, gc leaves it alone, however old it looks.
        age_file(&path, OLD);
        let r = s.gc(false);
        assert_eq!((r.removed, r.kept_pending), (0, 1), "{r:#?}");
        assert!(path.exists(), "{}", to_hex(&id));
    }

    #[test]
    fn stops_between_folders_when_asked() {
        let s = Store::new();
        let opts = GcOptions { dry_run: false, grace: DEFAULT_GRACE };
        let stopped = collect(&s.store, &s.index, &Location::Sqlite(s.catalog.clone()), opts, &AtomicBool::new(true));
        assert!(matches!(stopped, Err(HygieneError::Stopped)));
    }
}
