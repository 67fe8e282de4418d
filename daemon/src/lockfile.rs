//! One process at a time on a folder: an exclusive `flock` on a file in it, taken without
//! waiting. Used for the data dir (`engine.rs`) and for an export's drive (`export/run.rs`).
//!
//! Why `flock`: the kernel drops it when the process dies, however it dies (kill -9, a power
//! cut), so a crash never leaves a lock to clean up by hand; the file stays, empty, and means
//! nothing without the lock. The descriptor is close-on-exec, so a child process never inherits it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock on `path` (created if missing), or `None` when another open file holds it.
/// Dropping the `File` releases it.
pub fn try_exclusive(path: &Path) -> io::Result<Option<File>> {
    let file = File::options().create(true).truncate(false).write(true).open(path)?;
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(file));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(None);
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let first = try_exclusive(&path).expect("lock").expect("free");
        assert!(try_exclusive(&path).expect("lock").is_none(), "held by the first");
        drop(first);
        assert!(try_exclusive(&path).expect("lock").is_some(), "released on drop");
    }
}
