//! The object store: every distinct content, once, at `objects/<2 hex>/<32 hex>.mid`.
//!
//! Durability is batched: shards write each new object as an unnamed O_TMPFILE inode in its
//! fan-out folder and link it into place (a temp file plus rename where O_TMPFILE is missing),
//! and the catalog writer calls `syncfs` once on the object store's filesystem before it commits
//! the batch that names those objects. One `syncfs` per batch instead of one `fsync` per file is
//! what lets the store keep up with 20,000 files/s; the invariant (no row without a durable
//! object) holds because the rows commit only after the `syncfs` returns. A crash before that
//! can leave a partial file under its final name, but no row points at it, and the next import of
//! that content rewrites it (a shard writes an object whenever the catalog does not hold its id).
//!
//! Objects no row names are removed by `hygiene::gc`. The store's part in making that safe during
//! an import is the collection mark ([`ObjectStore::mark`], [`ObjectStore::ensure`]): a shard
//! that won the claim on a content re-checks its object when a collection ran since it wrote it.
//! The whole argument is in `hygiene/gc.rs`.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::dedupe::{from_hex, to_hex, ContentId};

#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct StoreError {
    pub op: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

pub struct ObjectStore {
    root: PathBuf,
    tmp: PathBuf,
    root_dir: File,
    /// Odd while a collection runs, bumped at its start and at its end: a mark taken before a
    /// write tells, after the claim, whether a collection may have removed what was written.
    collections: AtomicU64,
    /// One collection at a time, or the odd/even rule of `collections` would not hold.
    collecting: Mutex<()>,
}

/// A collection in progress (see [`ObjectStore::begin_collection`]); ends when dropped.
pub struct Collection<'a> {
    store: &'a ObjectStore,
    _one_at_a_time: MutexGuard<'a, ()>,
}

impl Drop for Collection<'_> {
    fn drop(&mut self) {
        self.store.collections.fetch_add(1, Ordering::SeqCst);
    }
}

impl ObjectStore {
    /// Opens (creating) `data_dir/objects`, its 256 fan-out folders and its temp folder. Temp
    /// files left by a crash are removed: nothing refers to them.
    pub fn open(data_dir: &Path) -> Result<ObjectStore, StoreError> {
        let root = data_dir.join("objects");
        let tmp = root.join("tmp");
        let err = |op: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError { op, path, source }
        };
        fs::create_dir_all(&tmp).map_err(err("creating", &tmp))?;
        for i in 0..=255u8 {
            let d = root.join(format!("{i:02x}"));
            if let Err(e) = fs::create_dir(&d) {
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(err("creating", &d)(e));
                }
            }
        }
        if let Ok(entries) = fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        let root_dir = File::open(&root).map_err(err("opening", &root))?;
        Ok(ObjectStore { root, tmp, root_dir, collections: AtomicU64::new(0), collecting: Mutex::new(()) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fan-out folder: `objects/<2 hex>`.
    pub fn fan_out_dir(&self, prefix: u8) -> PathBuf {
        self.root.join(format!("{prefix:02x}"))
    }

    /// The id an object file's name gives, when it is an object's name: 32 lowercase hex digits
    /// plus `.mid`, in the fan-out folder of its first byte. Anything else is not ours to judge.
    pub fn id_of_name(prefix: u8, name: &std::ffi::OsStr) -> Option<ContentId> {
        let hex = name.to_str()?.strip_suffix(".mid")?;
        let id = from_hex(hex)?;
        // from_hex also takes upper case; only the spelling `path_of` writes is an object.
        (id[0] == prefix && to_hex(&id) == hex).then_some(id)
    }

    /// Taken by a shard before it writes an object; see [`ObjectStore::ensure`].
    pub fn mark(&self) -> u64 {
        self.collections.load(Ordering::SeqCst)
    }

    /// Whether a collection ran (or runs) at any time after `mark` was taken.
    pub fn collected_since(&self, mark: u64) -> bool {
        mark % 2 == 1 || self.mark() != mark
    }

    /// Starts a collection: waits for one already running, then marks the store as collecting
    /// until the returned value is dropped.
    pub fn begin_collection(&self) -> Collection<'_> {
        let guard = self.collecting.lock();
        self.collections.fetch_add(1, Ordering::SeqCst);
        Collection { store: self, _one_at_a_time: guard }
    }

    /// Called by a shard right after it won the claim on `id`, with the mark it took before it
    /// wrote the object. A collection removes only objects whose id nobody has claimed, so the one
    /// window in which it can take a shard's object is between the write (which keeps an old
    /// stray object already under that name, EEXIST being success) and the claim. When a
    /// collection ran since `mark`, the object is checked and written again if it went. Returns
    /// whether it wrote. Costs two atomic loads when no collection ran.
    pub fn ensure(&self, id: &ContentId, bytes: &[u8], mark: u64, shard: usize, seq: u64) -> io::Result<bool> {
        if !self.collected_since(mark) || self.path_of(id).try_exists()? {
            return Ok(false);
        }
        self.write_sync(id, bytes, shard, seq)?;
        Ok(true)
    }

    pub fn path_of(&self, id: &ContentId) -> PathBuf {
        let hex = to_hex(id);
        self.root.join(&hex[..2]).join(format!("{hex}.mid"))
    }

    /// A temp path unique to (shard, sequence number), so shards never collide.
    pub fn temp_path(&self, id: &ContentId, shard: usize, seq: u64) -> PathBuf {
        self.tmp.join(format!("{}.{shard}.{seq}", to_hex(id)))
    }

    /// Where archive walks spill nested archives too large to hold in memory (unnamed files).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Writes an object synchronously: for archive members, which are decoded by synchronous
    /// code on the shard (loose files use the shard's io_uring path). Same scheme: an unnamed
    /// O_TMPFILE inode linked into place, or a temp file and rename where O_TMPFILE is missing;
    /// durability comes from the writer's `syncfs`.
    pub fn write_sync(&self, id: &ContentId, bytes: &[u8], shard: usize, seq: u64) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dest = self.path_of(id);
        let dir = dest.parent().ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        match fs::OpenOptions::new().write(true).custom_flags(libc::O_TMPFILE).mode(0o644).open(dir) {
            Ok(mut f) => {
                f.write_all(bytes)?;
                link_fd(f.as_raw_fd(), &dest)
            }
            Err(e) if tmpfile_unsupported(&e) => {
                let tmp = self.temp_path(id, shard, seq);
                let written = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, &dest));
                if written.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                written
            }
            Err(e) => Err(e),
        }
    }

    /// Makes every object written so far durable (data and the renames that named it).
    pub fn sync(&self) -> Result<(), StoreError> {
        // SAFETY: syncfs takes any open fd on the filesystem; root_dir lives as long as self.
        let rc = unsafe { libc::syncfs(self.root_dir.as_raw_fd()) };
        if rc != 0 {
            return Err(StoreError { op: "syncfs", path: self.root.clone(), source: io::Error::last_os_error() });
        }
        Ok(())
    }
}

/// O_TMPFILE is refused with one of these where the filesystem lacks it.
pub fn tmpfile_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL))
}

/// Gives an O_TMPFILE inode its name. An existing object of the same name holds the same bytes
/// (names are content hashes), so EEXIST is success, and that object's mtime is set to now: an
/// object a write relied on is then always inside gc's grace period while its row is in flight,
/// even for a gc whose index cannot know the write's claim (after a crash, a restarted daemon's
/// index lacks rows whose COMMIT a dead process sent and a PostgreSQL server has yet to apply).
/// If a gc removed the object between the link and the touch, the link is tried again.
pub fn link_fd(fd: std::os::fd::RawFd, dest: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let src = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).map_err(io::Error::other)?;
    let dst = std::ffi::CString::new(dest.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut tries = 0;
    loop {
        // SAFETY: both are valid NUL-terminated paths for the duration of the call.
        let rc = unsafe {
            libc::linkat(libc::AT_FDCWD, src.as_ptr(), libc::AT_FDCWD, dst.as_ptr(), libc::AT_SYMLINK_FOLLOW)
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
        // SAFETY: a valid NUL-terminated path; a null `times` means now for both stamps.
        if unsafe { libc::utimensat(libc::AT_FDCWD, dst.as_ptr(), std::ptr::null(), 0) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            // The object is there: the touch is a margin for gc, not what makes the write.
            return Ok(());
        }
        // Gone between the link and the touch: link again, a few times, then say so.
        tries += 1;
        if tries == 3 {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_stale_temp_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let id = [0xabu8; 16];
        let p = store.path_of(&id);
        assert!(p.starts_with(dir.path().join("objects/ab")));
        assert!(p.to_string_lossy().ends_with(".mid"));
        let t = store.temp_path(&id, 1, 7);
        fs::write(&t, b"x").unwrap();
        drop(store);
        let _store = ObjectStore::open(dir.path()).unwrap();
        assert!(!t.exists(), "stale temp files are removed at open");
    }

    #[test]
    fn collection_marks_tell_whether_a_collection_overlapped() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let before = store.mark();
        assert!(!store.collected_since(before));
        let collection = store.begin_collection();
        assert!(store.collected_since(before), "a collection started after the mark");
        let during = store.mark();
        assert!(store.collected_since(during), "taken while one runs");
        drop(collection);
        assert!(store.collected_since(during), "it ended after the mark, but it ran");
        assert!(!store.collected_since(store.mark()));
    }

    #[test]
    fn a_write_that_finds_its_object_there_makes_it_new_for_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let bytes = b"MThd an old stray";
        let id = crate::dedupe::content_id(bytes);
        store.write_sync(&id, bytes, 0, 1).unwrap();
        let path = store.path_of(&id);
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
        fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        store.write_sync(&id, bytes, 0, 2).unwrap();
        let modified = fs::metadata(&path).unwrap().modified().unwrap();
        assert!(modified > old + std::time::Duration::from_secs(86_400), "EEXIST refreshed the mtime");
    }

    #[test]
    fn ensure_rewrites_an_object_a_collection_took() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let bytes = b"MThd object";
        let id = crate::dedupe::content_id(bytes);
        let mark = store.mark();
        store.write_sync(&id, bytes, 0, 1).unwrap();
        assert!(!store.ensure(&id, bytes, mark, 0, 2).unwrap(), "no collection: nothing to check");
        {
            let _c = store.begin_collection();
            fs::remove_file(store.path_of(&id)).unwrap();
        }
        assert!(store.ensure(&id, bytes, mark, 0, 3).unwrap());
        assert_eq!(fs::read_to_string(store.path_of(&id)).unwrap(), "MThd object");
        assert!(!store.ensure(&id, bytes, mark, 0, 4).unwrap(), "present: left alone");
    }

    #[test]
    fn only_canonical_object_names_have_an_id() {
        use std::ffi::OsStr;
        let id = [0xabu8; 16];
        let name = format!("{}.mid", to_hex(&id));
        assert_eq!(ObjectStore::id_of_name(0xab, OsStr::new(&name)), Some(id));
        assert_eq!(ObjectStore::id_of_name(0xac, OsStr::new(&name)), None, "wrong fan-out folder");
        assert_eq!(ObjectStore::id_of_name(0xab, OsStr::new(&name.to_uppercase())), None);
        assert_eq!(ObjectStore::id_of_name(0xab, OsStr::new(&to_hex(&id))), None, "no .mid");
        assert_eq!(ObjectStore::id_of_name(0xab, OsStr::new("ab.mid")), None);
    }

    #[test]
    fn write_sync_names_the_object_and_tolerates_a_second_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let id = [0x12u8; 16];
        store.write_sync(&id, b"MThd bytes", 0, 1).unwrap();
        store.write_sync(&id, b"MThd bytes", 1, 2).unwrap();
        assert_eq!(fs::read_to_string(store.path_of(&id)).unwrap(), "MThd bytes");
    }
}
