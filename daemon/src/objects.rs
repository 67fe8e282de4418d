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

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::dedupe::{to_hex, ContentId};

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
        Ok(ObjectStore { root, tmp, root_dir })
    }

    pub fn root(&self) -> &Path {
        &self.root
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
/// (names are content hashes), so EEXIST is success.
pub fn link_fd(fd: std::os::fd::RawFd, dest: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let src = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).map_err(io::Error::other)?;
    let dst = std::ffi::CString::new(dest.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths for the duration of the call.
    let rc =
        unsafe { libc::linkat(libc::AT_FDCWD, src.as_ptr(), libc::AT_FDCWD, dst.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EEXIST) {
        Ok(())
    } else {
        Err(e)
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
    fn write_sync_names_the_object_and_tolerates_a_second_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(dir.path()).unwrap();
        let id = [0x12u8; 16];
        store.write_sync(&id, b"MThd bytes", 0, 1).unwrap();
        store.write_sync(&id, b"MThd bytes", 1, 2).unwrap();
        assert_eq!(fs::read_to_string(store.path_of(&id)).unwrap(), "MThd bytes");
    }
}
