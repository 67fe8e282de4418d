//! Stable reject reason codes: what a file that could not be used becomes.
//!
//! These strings are contract (DESIGN section 4 and 6: scripts filter on them), so a variant may be
//! added but never renamed. Bad input never stops a job: every failure on one file maps to one of
//! these and the job goes on.
//!
//! Repair policy for MIDI (what is imported with a repair note, what is rejected), decided once here
//! and in `midi.rs`, and stated in the README:
//! - rejected: zero bytes (`empty`); no `MThd` at offset 0 (`not_midi`); a header shorter than its
//!   six fields or a file that ends inside the header (`truncated`); division 0 or an SMPTE frame
//!   rate other than 24/25/29/30 (`bad_division`); no track chunk with a single readable event
//!   (`truncated` when the file ends early, `malformed` otherwise); more events than the per-file
//!   cap (`too_many_events`); over the size cap (`too_large`);
//! - imported with a repair note: a track chunk whose length runs past the end of the file
//!   (`track_truncated`: the events up to the end are kept); an event that cannot be decoded
//!   (`bad_event`: the track is cut there, as midly's lenient mode does); no End of Track event
//!   (`missing_end_of_track`); fewer or more track chunks than the header declares
//!   (`track_count_mismatch`); bytes after the last chunk that are not a chunk
//!   (`trailing_data`); unknown chunk types are skipped silently (the SMF spec says to).

use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Empty,
    NotMidi,
    Truncated,
    BadDivision,
    Malformed,
    TooManyEvents,
    TooLarge,
    PermissionDenied,
    SymlinkLoop,
    NotRegular,
    NotFound,
    Io,
    BombLimit,
    DepthLimit,
    OverlappingEntries,
    EncryptedArchive,
    CorruptArchive,
    UnsupportedArchive,
}

impl Reason {
    pub const ALL: [Reason; 18] = [
        Reason::Empty,
        Reason::NotMidi,
        Reason::Truncated,
        Reason::BadDivision,
        Reason::Malformed,
        Reason::TooManyEvents,
        Reason::TooLarge,
        Reason::PermissionDenied,
        Reason::SymlinkLoop,
        Reason::NotRegular,
        Reason::NotFound,
        Reason::Io,
        Reason::BombLimit,
        Reason::DepthLimit,
        Reason::OverlappingEntries,
        Reason::EncryptedArchive,
        Reason::CorruptArchive,
        Reason::UnsupportedArchive,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::NotMidi => "not_midi",
            Reason::Truncated => "truncated",
            Reason::BadDivision => "bad_division",
            Reason::Malformed => "malformed",
            Reason::TooManyEvents => "too_many_events",
            Reason::TooLarge => "too_large",
            Reason::PermissionDenied => "permission_denied",
            Reason::SymlinkLoop => "symlink_loop",
            Reason::NotRegular => "not_regular_file",
            Reason::NotFound => "not_found",
            Reason::Io => "io_error",
            Reason::BombLimit => "bomb_limit",
            Reason::DepthLimit => "depth_limit",
            Reason::OverlappingEntries => "overlapping_entries",
            Reason::EncryptedArchive => "encrypted_archive",
            Reason::CorruptArchive => "corrupt_archive",
            Reason::UnsupportedArchive => "unsupported_archive",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Maps an I/O error on one file to its reason; anything unexpected is `io_error`.
    pub fn from_io(err: &io::Error) -> Reason {
        match err.raw_os_error() {
            Some(libc::ELOOP) => Reason::SymlinkLoop,
            Some(libc::EACCES) | Some(libc::EPERM) => Reason::PermissionDenied,
            Some(libc::ENOENT) => Reason::NotFound,
            Some(libc::EISDIR) => Reason::NotRegular,
            _ => match err.kind() {
                io::ErrorKind::PermissionDenied => Reason::PermissionDenied,
                io::ErrorKind::NotFound => Reason::NotFound,
                _ => Reason::Io,
            },
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
    }

    #[test]
    fn io_errors_map_to_stable_codes() {
        assert_eq!(Reason::from_io(&io::Error::from_raw_os_error(libc::EACCES)), Reason::PermissionDenied);
        assert_eq!(Reason::from_io(&io::Error::from_raw_os_error(libc::ELOOP)), Reason::SymlinkLoop);
        assert_eq!(Reason::from_io(&io::Error::from_raw_os_error(libc::EIO)), Reason::Io);
    }
}
