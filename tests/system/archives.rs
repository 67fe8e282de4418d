//! Archives through the real daemon: nested packs, provenance chains, bombs as rejects, and a
//! re-import that costs one hash per archive.

use std::io::{Cursor, Write};

use midid::gen::midi_bytes;

use crate::harness::{count, path_str, Dir};

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).expect("zip entry");
        w.write_all(data).expect("zip data");
    }
    w.finish().expect("zip finish").into_inner()
}

fn sevenz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).expect("7z writer");
    for (name, data) in entries {
        w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(name), Some(*data)).expect("7z entry");
    }
    w.finish().expect("7z finish").into_inner()
}

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).expect("tar entry");
    }
    let tarball = b.into_inner().expect("tar finish");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tarball).expect("gz");
    gz.finish().expect("gz finish")
}

#[test]
fn nested_packs_import_with_provenance_and_reimport_is_a_no_op() {
    let mut dir = Dir::new();
    let m: Vec<Vec<u8>> = (0..6).map(|i| midi_bytes(i, 40 + i as u64)).collect();
    let drums = sevenz(&[("Kick Loops/Kick 01.mid", &m[0]), ("Kick Loops/Kick 02.mid", &m[1]), ("kit.wav", b"RIFF")]);
    let pack = zip(&[
        ("Trap Vol 1/Drums.7z", &drums),
        ("Trap Vol 1/Bass 01.mid", &m[2]),
        ("__MACOSX/Trap Vol 1/._Bass 01.mid", b"junk"),
        ("Trap Vol 1/broken.mid", b"MThd\x00\x00\x00\x06"),
    ]);
    dir.write("in/Packs/Trap Vol 1.zip", &pack);
    // Shares one file with the zip (a duplicate across archives) and brings two new ones.
    dir.write("in/Packs/Chords.tar.gz", &tar_gz(&[("Chords/A.mid", &m[2]), ("Chords/B.mid", &m[3]), ("C.mid", &m[4])]));
    dir.write("in/Packs/loose.mid", &m[5]);
    dir.start();

    let input = dir.path("in");
    let job = dir.ctl_json(&["import", path_str(&input), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let c = &job["counts"];
    // MIDI members 3 + 3, one loose file, one truncated member.
    assert_eq!(c["discovered"], 8, "{c:#}");
    assert_eq!(c["imported"], 6, "{c:#}");
    assert_eq!(c["duplicates"], 1, "{c:#}");
    assert_eq!(c["rejected"], 1, "{c:#}");
    assert_eq!(c["cataloged"], 8, "{c:#}");
    assert_eq!(c["archives"], 3, "{c:#}");
    assert_eq!(c["archive_depth"], 2, "{c:#}");
    assert!(c["inflated_bytes"].as_u64().unwrap() > 0);
    assert_eq!(job["skipped_by_ext"]["wav"], 1, "{job:#}");
    assert_eq!(job["skipped_by_ext"]["(junk)"], 1, "{job:#}");
    assert_eq!(job["rejects_by_reason"]["truncated"], 1, "{job:#}");

    let db = dir.catalog();
    let input = input.to_string_lossy().into_owned();
    let kick = format!("{input}/Packs/Trap Vol 1.zip!/Trap Vol 1/Drums.7z!/Kick Loops/Kick 01.mid");
    assert_eq!(count(&db, &format!("SELECT COUNT(*) FROM sources WHERE path = '{kick}' AND name = 'Kick 01.mid'")), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources WHERE path LIKE '%Chords.tar.gz!/Chords/A.mid'"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources WHERE hash NOT IN (SELECT hash FROM files)"), 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM archives"), 2, "outer archives fully walked are recorded");
    let sources = count(&db, "SELECT COUNT(*) FROM sources");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources WHERE parent IS NULL"), 7);

    // The same packs again: one hash each, nothing walked, no rows.
    let again = dir.ctl_json(&["import", path_str(&dir.path("in")), "--wait", "--json"]);
    assert_eq!(again["state"], "done", "{again:#}");
    assert_eq!(again["counts"]["archives_known"], 2, "{again:#}");
    assert_eq!(again["counts"]["archives"], 0, "{again:#}");
    assert_eq!(again["counts"]["duplicates"], 1, "only the loose file is looked at: {again:#}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM sources"), sources, "the same paths again add no rows");
}

#[test]
fn bombs_and_broken_archives_are_rejects_and_the_job_goes_on() {
    let mut dir = Dir::new();
    let good = midi_bytes(0, 77);
    // Ratio bomb: 64 MiB of zeros as a MIDI-named entry, against a ratio cap lowered in config.
    let zeros = vec![0u8; 64 << 20];
    dir.write("in/ratio.zip", &zip(&[("zeros.mid", &zeros), ("fine.mid", &good)]));
    // Nesting one level past a configured depth of 2.
    let deep = zip(&[("l2.zip", &zip(&[("l3.zip", &zip(&[("deep.mid", &good)]))]))]);
    dir.write("in/deep.zip", &deep);
    // Truncated archive: a 7z cut in half.
    let whole = sevenz(&[("a.mid", &midi_bytes(1, 1)), ("b.mid", &midi_bytes(2, 2))]);
    dir.write("in/cut.7z", &whole[..whole.len() / 2]);
    // Not an archive at all, though named like one: examined as a file, rejected as not MIDI.
    dir.write("in/fake.zip", b"this is a text file");
    let config = dir.write("midid.toml", b"[archive]\nmax_depth = 2\nmax_ratio = 50\n");
    dir.start_with(&["--config", path_str(&config)]);

    let job = dir.ctl_json(&["import", path_str(&dir.path("in")), "--wait", "--json"]);
    assert_eq!(job["state"], "done", "{job:#}");
    let r = &job["rejects_by_reason"];
    assert_eq!(r["bomb_limit"], 1, "{job:#}");
    assert_eq!(r["depth_limit"], 1, "{job:#}");
    assert_eq!(r["corrupt_archive"], 1, "{job:#}");
    assert_eq!(r["not_midi"], 1, "{job:#}");
    assert_eq!(job["counts"]["imported"], 1, "fine.mid survives next to the bomb: {job:#}");
    let db = dir.catalog();
    let detail: String = db
        .query_row("SELECT detail FROM rejects WHERE reason = 'depth_limit'", [], |row| row.get(0))
        .expect("depth reject");
    assert!(detail.contains("over the limit of 2"), "{detail}");
    let path: String = db
        .query_row("SELECT path FROM rejects WHERE reason = 'bomb_limit'", [], |row| row.get(0))
        .expect("bomb reject");
    assert!(path.ends_with("ratio.zip!/zeros.mid"), "{path}");
}
