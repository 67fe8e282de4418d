//! Discovery: walks the paths of a job and feeds work units to the shards.
//!
//! It runs on its own thread per job and streams: units go into the bounded shard channel as they
//! are found, so a walk of millions of files holds memory for the channel's capacity, not for the
//! tree. `discovered` grows as it walks; the job's total is final once `discovery_done` is set.
//! Entries that cannot be walked (symlink loops, unreadable directories) become rejects here.
//!
//! The walk is our own, not walkdir with `follow_links`: that stats every entry, serially, on this
//! one thread, which from a cold cache reads every inode before a shard can open anything. Here
//! the type comes from `readdir` (d_type) and only symlinks are stat'ed; inodes are then read by
//! the shards' opens, many in flight at once. Loops are found by comparing a symlinked
//! directory's (device, inode) with those of the directories above it.

use std::fs;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::catalog::writer::discovery_finished;
use crate::catalog::{Batch, Row, WriterMsg};
use crate::job::{Counters, Job};
use crate::reject::Reason;
use crate::shard::Unit;

/// Extensions taken as MIDI when walking a directory (case-insensitive). A file named on the
/// command line is imported whatever its extension.
pub const MIDI_EXTENSIONS: &[&str] = &crate::unpack::names::MIDI_EXTENSIONS;

fn is_midi_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| MIDI_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(e)))
}

/// Files worth reading from a directory walk: MIDI by name, or archives by name. What a file is
/// is then decided by its magic bytes on the shard (a `.zip` that is really a 7z is walked as
/// one; a `.mid` that is a zip is walked too).
fn is_candidate_name(path: &Path) -> bool {
    is_midi_name(path)
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| crate::unpack::names::ARCHIVE_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

fn ext_label(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_else(|| "(none)".to_string())
}

/// A directory still to read, with the (device, inode) of itself and every directory above it.
struct PendingDir {
    path: PathBuf,
    dev: u64,
    ancestors: Vec<(u64, u64)>,
}

pub struct Discovery {
    pub job: Arc<Job>,
    pub paths: Vec<PathBuf>,
    pub units: Sender<Unit>,
    pub writer: Sender<WriterMsg>,
    pub stop: Arc<AtomicBool>,
}

impl Discovery {
    pub fn run(self) {
        for root in &self.paths {
            if !self.walk(root) {
                break;
            }
        }
        if discovery_finished(&self.job) {
            let _ = self.writer.send(WriterMsg::JobRow(Arc::clone(&self.job)));
        }
    }

    fn live(&self) -> bool {
        self.job.is_live() && !self.stop.load(Ordering::Relaxed)
    }

    /// Returns false when the job stopped (cancelled, shutdown).
    fn walk(&self, root: &Path) -> bool {
        let meta = match fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                self.reject_io(root, "opening", &e);
                return true;
            }
        };
        if !meta.is_dir() {
            // Named directly: imported whatever its extension.
            return if meta.is_file() {
                self.unit(root.to_path_buf())
            } else {
                self.reject(root, Reason::NotRegular, "not a regular file (fifo, socket or device)".into());
                true
            };
        }
        let mut stack =
            vec![PendingDir { path: root.to_path_buf(), dev: meta.dev(), ancestors: vec![(meta.dev(), meta.ino())] }];
        while let Some(dir) = stack.pop() {
            if !self.live() {
                return false;
            }
            let entries = match fs::read_dir(&dir.path) {
                Ok(e) => e,
                Err(e) => {
                    self.reject_io(&dir.path, "reading directory", &e);
                    continue;
                }
            };
            for entry in entries {
                if !self.live() {
                    return false;
                }
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        self.reject_io(&dir.path, "reading directory", &e);
                        break;
                    }
                };
                let path = entry.path();
                let ft = match entry.file_type() {
                    Ok(ft) => ft,
                    Err(e) => {
                        self.reject_io(&path, "reading the type of", &e);
                        continue;
                    }
                };
                if ft.is_dir() {
                    let mut ancestors = dir.ancestors.clone();
                    ancestors.push((dir.dev, entry.ino()));
                    stack.push(PendingDir { path, dev: dir.dev, ancestors });
                } else if ft.is_file() {
                    if !self.file(path) {
                        return false;
                    }
                } else if ft.is_symlink() {
                    match fs::metadata(&path) {
                        Ok(m) if m.is_dir() => {
                            if dir.ancestors.contains(&(m.dev(), m.ino())) {
                                let detail = format!("symlink loop: {} points at a directory above it", path.display());
                                self.reject(&path, Reason::SymlinkLoop, detail);
                            } else {
                                let mut ancestors = dir.ancestors.clone();
                                ancestors.push((m.dev(), m.ino()));
                                stack.push(PendingDir { path, dev: m.dev(), ancestors });
                            }
                        }
                        Ok(m) if m.is_file() => {
                            if !self.file(path) {
                                return false;
                            }
                        }
                        Ok(_) => self.other(&path),
                        Err(e) if is_midi_name(&path) || e.raw_os_error() == Some(libc::ELOOP) => {
                            self.reject_io(&path, "following symlink", &e);
                        }
                        // A dangling link to something that is not MIDI by name: not ours to report.
                        Err(_) => self.job.count_skipped(&ext_label(&path)),
                    }
                } else {
                    self.other(&path);
                }
            }
        }
        true
    }

    /// A regular file found in a directory: a unit if MIDI or an archive by name, else counted by
    /// extension.
    fn file(&self, path: PathBuf) -> bool {
        if is_candidate_name(&path) {
            self.unit(path)
        } else {
            self.job.count_skipped(&ext_label(&path));
            true
        }
    }

    /// Fifos, sockets, devices: a reject when named like MIDI, else skipped.
    fn other(&self, path: &Path) {
        if is_midi_name(path) {
            self.reject(path, Reason::NotRegular, "not a regular file (fifo, socket or device)".into());
        } else {
            self.job.count_skipped(&ext_label(path));
        }
    }

    fn unit(&self, path: PathBuf) -> bool {
        let unit = Unit {
            job: Arc::clone(&self.job),
            provenance: path.to_string_lossy().into_owned(),
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            path,
        };
        // Counted before it is sent, so completion can never run ahead of discovery.
        Counters::add(&self.job.counters.discovered, 1);
        self.units.send(unit).is_ok()
    }

    /// An I/O failure on one path: its reason from the errno, its detail naming what failed.
    fn reject_io(&self, path: &Path, what: &str, e: &std::io::Error) {
        self.reject(path, Reason::from_io(e), format!("{what} {}: {e}", path.display()));
    }

    fn reject(&self, path: &Path, reason: Reason, detail: String) {
        Counters::add(&self.job.counters.discovered, 1);
        let row = Row::Reject { job: Arc::clone(&self.job), path: path.to_string_lossy().into_owned(), reason, detail };
        let _ = self.writer.send(WriterMsg::Batch(Batch { rows: vec![row] }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_names() {
        assert!(is_midi_name(Path::new("/a/b.MID")));
        assert!(is_midi_name(Path::new("x.midi")));
        assert!(!is_midi_name(Path::new("x.wav")));
        assert!(!is_midi_name(Path::new("mid")));
        assert_eq!(ext_label(Path::new("a/README")), "(none)");
        assert_eq!(ext_label(Path::new("a/b.WAV")), "wav");
    }
}
