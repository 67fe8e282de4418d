//! Discovery: walks the paths of a job and feeds work units to the shards.
//!
//! It runs on its own thread per job and streams: units go into the bounded shard channel as they
//! are found, so a walk of millions of files holds memory for the channel's capacity, not for the
//! tree. `discovered` grows as it walks; the job's total is final once `discovery_done` is set.
//! Entries that cannot be walked (symlink loops, unreadable directories) become rejects here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
use walkdir::WalkDir;

use crate::catalog::writer::discovery_finished;
use crate::catalog::{Batch, Row, WriterMsg};
use crate::job::{Counters, Job};
use crate::reject::Reason;
use crate::shard::Unit;

/// Extensions taken as MIDI when walking a directory (case-insensitive). A file named on the
/// command line is imported whatever its extension.
pub const MIDI_EXTENSIONS: &[&str] = &["mid", "midi", "smf", "kar", "rmi"];

fn is_midi_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| MIDI_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(e)))
}

fn ext_label(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_else(|| "(none)".to_string())
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
        for entry in WalkDir::new(root).follow_links(true) {
            if !self.live() {
                return false;
            }
            match entry {
                Ok(e) => {
                    let ft = e.file_type();
                    if ft.is_dir() {
                        continue;
                    }
                    let named_directly = e.depth() == 0;
                    if !named_directly && !is_midi_name(e.path()) {
                        self.job.count_skipped(&ext_label(e.path()));
                        continue;
                    }
                    if !ft.is_file() {
                        self.reject(e.path(), Reason::NotRegular, "not a regular file (fifo, socket or device)".into());
                        continue;
                    }
                    let path = e.into_path();
                    let unit = Unit {
                        job: Arc::clone(&self.job),
                        provenance: path.to_string_lossy().into_owned(),
                        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                        path,
                    };
                    // Counted before it is sent, so completion can never run ahead of discovery.
                    Counters::add(&self.job.counters.discovered, 1);
                    if self.units.send(unit).is_err() {
                        return false;
                    }
                }
                Err(err) => {
                    let path = err.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                    let (reason, detail) = if let Some(anc) = err.loop_ancestor() {
                        (Reason::SymlinkLoop, format!("symlink loop back to {}", anc.display()))
                    } else if let Some(io) = err.io_error() {
                        (Reason::from_io(io), format!("walking {}: {io}", path.display()))
                    } else {
                        (Reason::Io, err.to_string())
                    };
                    self.reject(&path, reason, detail);
                }
            }
        }
        true
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
