//! `verify`: re-hashes every object and compares the id with its name; lists the `files` rows
//! whose object is not on disk (whole files and the parents of parts: a part has no object of its
//! own, its bytes are its parent's split again).
//!
//! Why it exists: an object's name is its content id and a row trusts it forever; bit rot, a
//! truncated copy of the data dir or a hand in `objects/` would otherwise go unseen until an
//! export reads the bytes.
//!
//! Order per fan-out folder: the catalog's ids first, then the folder. A row's object is durable
//! before the row commits, so every id in that snapshot has its object in the listing unless it
//! is really gone; listing first would report objects of rows committed in between as missing.
//! Objects are read in 64 KiB pieces through the streaming hasher: memory does not grow with an
//! object's size, even for a large stray file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use midictl::protocol::{MissingObject, ObjectMismatch, UnreadableObject, VerifyReport};

use super::{list_objects, push_capped, CatalogIds, HygieneError};
use crate::catalog::Location;
use crate::dedupe::{to_hex, ContentHasher, ContentId};
use crate::objects::ObjectStore;

const READ_PIECE: usize = 64 * 1024;

/// Checks the whole store. `stop` is checked between fan-out folders.
pub fn verify(store: &ObjectStore, catalog: &Location, stop: &AtomicBool) -> Result<VerifyReport, HygieneError> {
    let started = Instant::now();
    let catalog = CatalogIds::open(catalog)?;
    let mut report = VerifyReport::default();
    let mut piece = vec![0u8; READ_PIECE];
    for prefix in 0..=255u8 {
        if stop.load(Ordering::Relaxed) {
            return Err(HygieneError::Stopped);
        }
        let catalogued = catalog.with_prefix(prefix)?;
        report.catalogued += catalogued.values().filter(|required| **required).count() as u64;
        let listing = match list_objects(store, prefix) {
            Ok(listing) => listing,
            Err((dir, e)) => {
                // Its objects cannot be judged either way: one problem, not one per row.
                report.problems += 1;
                let error = format!("listing the folder: {e}");
                push_capped(&mut report.unreadable, UnreadableObject { path: dir.display().to_string(), error });
                continue;
            }
        };
        report.ignored += listing.ignored;
        for (dir, e) in listing.errors {
            report.problems += 1;
            let error = format!("listing the folder: {e}");
            push_capped(&mut report.unreadable, UnreadableObject { path: dir.display().to_string(), error });
        }
        let mut present: HashSet<ContentId> = HashSet::with_capacity(listing.objects.len());
        for (id, path) in listing.objects {
            let referenced = catalogued.contains_key(&id);
            match hash_file(&path, &mut piece) {
                Ok((actual, bytes)) => {
                    report.objects += 1;
                    report.bytes += bytes;
                    if actual != id {
                        report.problems += 1;
                        let mismatch = ObjectMismatch {
                            path: path.display().to_string(),
                            expected: to_hex(&id),
                            actual: to_hex(&actual),
                            referenced,
                        };
                        push_capped(&mut report.mismatched, mismatch);
                    }
                }
                // Removed since the listing (a gc): gone is gone; a catalogued one shows as missing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.problems += 1;
                    let error = e.to_string();
                    push_capped(&mut report.unreadable, UnreadableObject { path: path.display().to_string(), error });
                }
            }
            present.insert(id);
            if !referenced {
                report.unreferenced += 1;
            }
        }
        // A part's object is not missing: its bytes are made from its parent's.
        let mut missing: Vec<&ContentId> =
            catalogued.iter().filter(|(id, required)| **required && !present.contains(*id)).map(|(id, _)| id).collect();
        missing.sort_unstable();
        for id in missing {
            report.problems += 1;
            let path = store.path_of(id).display().to_string();
            push_capped(&mut report.missing, MissingObject { hash: to_hex(id), path });
        }
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The content id of a file's bytes and their count.
fn hash_file(path: &Path, piece: &mut [u8]) -> io::Result<(ContentId, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = ContentHasher::new();
    let mut total = 0u64;
    loop {
        let n = match file.read(piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&piece[..n]);
        total += n as u64;
    }
    Ok((hasher.finish(), total))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use rusqlite::params;

    use super::*;
    use crate::catalog::sqlite;
    use crate::dedupe::content_id;

    fn catalogue(conn: &rusqlite::Connection, id: &ContentId) {
        conn.execute(
            "INSERT INTO files (hash, size, format, tracks, channels, notes, drum_notes, events,
               duration_ticks, duration_s, repairs, job) VALUES (?1, 1, 0, 1, 1, 1, 0, 1, 1, 1.0, '', 1)",
            params![&id[..]],
        )
        .expect("row");
    }

    #[test]
    fn reports_mismatched_missing_and_stray_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ObjectStore::open(dir.path()).expect("store");
        let catalog: PathBuf = dir.path().join("catalog.db");
        let conn = sqlite::open_writer(&catalog).expect("catalog");
        let good: Vec<ContentId> = (0..5u8)
            .map(|i| {
                let bytes = vec![i; 1000 + usize::from(i)];
                let id = content_id(&bytes);
                store.write_sync(&id, &bytes, 0, u64::from(i)).expect("write");
                catalogue(&conn, &id);
                id
            })
            .collect();
        let stray = content_id(b"stray");
        store.write_sync(&stray, b"stray", 0, 9).expect("write");
        let clean = verify(&store, &Location::Sqlite(catalog.clone()), &AtomicBool::new(false)).expect("verify");
        assert!(clean.ok(), "{clean:#?}");
        assert_eq!((clean.objects, clean.catalogued, clean.unreferenced), (6, 5, 1));

        // Rot one catalogued object, and lose another.
        let rotten = store.path_of(&good[1]);
        fs::write(&rotten, b"not what the name says").expect("rot");
        fs::remove_file(store.path_of(&good[3])).expect("lose");
        let r = verify(&store, &Location::Sqlite(catalog.clone()), &AtomicBool::new(false)).expect("verify");
        assert_eq!(r.problems, 2, "{r:#?}");
        assert_eq!(
            r.mismatched,
            vec![ObjectMismatch {
                path: rotten.display().to_string(),
                expected: to_hex(&good[1]),
                actual: to_hex(&content_id(b"not what the name says")),
                referenced: true,
            }]
        );
        assert_eq!(
            r.missing,
            vec![MissingObject { hash: to_hex(&good[3]), path: store.path_of(&good[3]).display().to_string() }]
        );
        assert!(r.unreadable.is_empty());
    }

    #[test]
    fn hashing_in_pieces_equals_the_content_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
        fs::write(&path, &bytes).expect("write");
        let mut piece = vec![0u8; 4093];
        assert_eq!(hash_file(&path, &mut piece).expect("hash"), (content_id(&bytes), bytes.len() as u64));
    }
}
