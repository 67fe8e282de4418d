//! Configuration: TOML file (`--config`), overridden by flags and `MIDID_*` environment variables.
//!
//! Every key here has a flag or an environment variable (DESIGN section 5); the file is for
//! systemd deployments where flags are awkward.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::midi::MidiLimits;
use crate::shard::{Limits, ShardTuning};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    /// `postgres://...` for a PostgreSQL catalog; absent: the embedded one (`--database`).
    pub database: Option<String>,
    pub socket: Option<PathBuf>,
    pub shards: Option<usize>,
    pub io_driver: Option<String>,
    pub max_file_bytes: Option<u64>,
    pub max_events: Option<u64>,
    pub inflight_per_shard: Option<usize>,
    /// Outer archives up to this size are read into memory; larger ones are walked from disk.
    pub max_archive_read: Option<u64>,
    /// Archive budgets (DESIGN section 7): `[archive]` with the keys of `ArchiveLimits`
    /// (`max_depth`, `max_entry_bytes`, `max_total_bytes`, `max_ratio`, `ratio_floor_bytes`,
    /// `max_entries`, `max_dict_bytes`, `max_memory_bytes`); missing keys keep their defaults.
    pub archive: Option<crate::unpack::ArchiveLimits>,
    /// Split multi-part files into parts (`library::split`); default true.
    pub split: Option<bool>,
    /// Compute musical fingerprints (duplicate tiers 1-3); default true.
    pub fingerprints: Option<bool>,
    /// Seconds between the daemon's own gc runs (`hygiene/gc.rs`); 0 turns them off.
    pub gc_interval_s: Option<u64>,
    /// Exports name files by `rename_template` without being asked (`--rename`); default false.
    pub rename: Option<bool>,
    /// The rename template exports use (`library/rename.rs`); default [`DEFAULT_RENAME_TEMPLATE`].
    pub rename_template: Option<String>,
}

/// The template `--rename` uses when the config names none: BPM and key first, so a folder
/// sorts by tempo, then the clean name.
pub const DEFAULT_RENAME_TEMPLATE: &str = "{bpm|nobpm}bpm_{key_short|nokey}_{name}";

/// `gc_interval_s` when neither a flag, the environment nor the file sets it: once a day, often
/// enough that crash leftovers do not pile up, rare enough that the scan costs nothing.
pub const DEFAULT_GC_INTERVAL_S: u64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing config {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("io_driver must be \"auto\" or \"epoll\", not {0:?}")]
    Driver(String),
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
    }

    pub fn force_epoll(&self) -> Result<bool, ConfigError> {
        match self.io_driver.as_deref() {
            None | Some("auto") | Some("io_uring") => Ok(false),
            Some("epoll") => Ok(true),
            Some(other) => Err(ConfigError::Driver(other.to_string())),
        }
    }

    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        let max_file_bytes = self.max_file_bytes.unwrap_or(d.max_file_bytes);
        // A MIDI member of an archive answers to the same cap as a loose MIDI file.
        let archive =
            crate::unpack::ArchiveLimits { max_member_bytes: max_file_bytes, ..self.archive.unwrap_or_default() };
        Limits {
            max_file_bytes,
            max_archive_read: self.max_archive_read.unwrap_or(d.max_archive_read),
            midi: MidiLimits { max_events: self.max_events.unwrap_or(d.midi.max_events) },
            archive,
        }
    }

    /// How often `serve` runs gc: `flag` (`--gc-interval-s` or `MIDID_GC_INTERVAL_S`), else the
    /// file's `gc_interval_s`, else [`DEFAULT_GC_INTERVAL_S`]. None: 0, turned off.
    pub fn gc_interval(&self, flag: Option<u64>) -> Option<Duration> {
        let seconds = flag.or(self.gc_interval_s).unwrap_or(DEFAULT_GC_INTERVAL_S);
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }

    pub fn tuning(&self) -> ShardTuning {
        let d = ShardTuning::default();
        ShardTuning { inflight: self.inflight_per_shard.unwrap_or(d.inflight).clamp(1, 4096), ..d }
    }
}

/// `$XDG_DATA_HOME/midid`, else `~/.local/share/midid`, else `./midid-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("midid");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".local/share/midid");
    }
    PathBuf::from("midid-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("shards = 2\nbogus = 1").is_err());
        let c: FileConfig = toml::from_str("shards = 2\nio_driver = \"epoll\"\nmax_events = 10").unwrap();
        assert_eq!(c.shards, Some(2));
        assert!(c.force_epoll().unwrap());
        assert_eq!(c.limits().midi.max_events, 10);
    }

    #[test]
    fn gc_interval_flag_over_file_over_default_and_zero_turns_it_off() {
        let none = FileConfig::default();
        assert_eq!(none.gc_interval(None), Some(Duration::from_secs(DEFAULT_GC_INTERVAL_S)));
        let file: FileConfig = toml::from_str("gc_interval_s = 3600").unwrap();
        assert_eq!(file.gc_interval(None), Some(Duration::from_secs(3600)));
        assert_eq!(file.gc_interval(Some(60)), Some(Duration::from_secs(60)));
        assert_eq!(file.gc_interval(Some(0)), None);
        let off: FileConfig = toml::from_str("gc_interval_s = 0").unwrap();
        assert_eq!(off.gc_interval(None), None);
    }
}
