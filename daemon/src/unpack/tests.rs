//! Walker tests over archives made here, in code: every container, nesting, bombs, damage, names.

use std::io::{Cursor, Write};

use super::*;
use crate::gen::midi_bytes;

#[derive(Default, Debug)]
struct Collect {
    members: Vec<(String, String, Vec<u8>)>,
    raw_names: Vec<Option<Vec<u8>>>,
    rejects: Vec<(String, Reason, String)>,
    skipped: Vec<String>,
}

impl Sink for Collect {
    fn member(&mut self, path: &str, name: &str, raw_name: Option<&[u8]>, bytes: &[u8]) {
        self.members.push((path.to_string(), name.to_string(), bytes.to_vec()));
        self.raw_names.push(raw_name.map(<[u8]>::to_vec));
    }
    fn reject(&mut self, path: &str, reason: Reason, detail: String) {
        self.rejects.push((path.to_string(), reason, detail));
    }
    fn skipped(&mut self, what: &str) {
        self.skipped.push(what.to_string());
    }
}

impl Collect {
    fn paths(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.members.iter().map(|m| m.0.as_str()).collect();
        v.sort();
        v
    }
    fn reasons(&self) -> Vec<Reason> {
        self.rejects.iter().map(|r| r.1).collect()
    }
}

fn walk_with(bytes: &[u8], path: &str, limits: ArchiveLimits) -> (Collect, Stats) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collect::default();
    let stats = Walker::new(limits, dir.path(), &mut c).walk_bytes(sniff(bytes), bytes, path);
    (c, stats)
}

fn walk(bytes: &[u8], path: &str) -> (Collect, Stats) {
    walk_with(bytes, path, ArchiveLimits::default())
}

fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        if name.ends_with('/') {
            w.add_directory(*name, ::zip::write::SimpleFileOptions::default()).unwrap();
        } else {
            w.start_file(*name, ::zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = ::tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut builder = flate2::GzBuilder::new();
    if let Some(n) = name {
        builder = builder.filename(n);
    }
    let mut e = builder.write(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zst(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

fn sevenz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    for (name, data) in entries {
        w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file(name), Some(*data)).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn pack_contents(m1: &[u8], m2: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("Trap Vol 1/Kick 01.mid", m1.to_vec()),
        ("Trap Vol 1/Bass.MIDI", m2.to_vec()),
        ("Trap Vol 1/demo.wav", b"RIFF....WAVE".to_vec()),
        ("__MACOSX/Trap Vol 1/._Kick 01.mid", b"junk".to_vec()),
        ("Trap Vol 1/readme.txt", b"hello".to_vec()),
    ]
}

fn as_refs<'a>(v: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    v.iter().map(|(n, d)| (*n, d.as_slice())).collect()
}

#[test]
fn every_container_yields_its_midi_members_with_provenance() {
    let (m1, m2) = (midi_bytes(0, 1), midi_bytes(1, 2));
    let contents = pack_contents(&m1, &m2);
    let refs = as_refs(&contents);
    let tarball = tar(&refs);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("p.zip", zip(&refs)),
        ("p.7z", sevenz(&refs)),
        ("p.tar", tarball.clone()),
        ("p.tar.gz", gz(&tarball, None)),
        ("p.tar.zst", zst(&tarball)),
    ];
    for (name, bytes) in &cases {
        let (c, stats) = walk(bytes, &format!("/in/{name}"));
        assert_eq!(
            c.paths(),
            vec![format!("/in/{name}!/Trap Vol 1/Bass.MIDI"), format!("/in/{name}!/Trap Vol 1/Kick 01.mid")],
            "{name}: {c:?}"
        );
        let kick = c.members.iter().find(|m| m.1 == "Kick 01.mid").unwrap();
        assert_eq!(kick.2, m1, "{name}: bytes survive the container");
        assert!(c.rejects.is_empty(), "{name}: {:?}", c.rejects);
        let mut skipped = c.skipped.clone();
        skipped.sort();
        assert_eq!(skipped, vec!["(junk)", "txt", "wav"], "{name}");
        // A compressed tarball is one archive: the stream and its tar are walked together.
        assert_eq!(stats.archives, 1, "{name}");
    }
}

#[test]
fn single_file_gzip_and_zstd_are_one_member() {
    let m = midi_bytes(2, 3);
    let (c, _) = walk(&gz(&m, Some("Chords 01.mid")), "/x/Chords.gz");
    assert_eq!(c.paths(), vec!["/x/Chords.gz!/Chords 01.mid"]);
    // No name in the header: the archive's name without its suffix.
    let (c, _) = walk(&zst(&m), "/x/Lead.mid.zst");
    assert_eq!(c.paths(), vec!["/x/Lead.mid.zst!/Lead.mid"]);
    assert_eq!(c.members[0].2, m);
}

#[test]
fn detection_is_by_magic_not_by_extension() {
    let m = midi_bytes(0, 9);
    // A 7z named .zip, holding a zip named .rar, holding MIDI named .dat.
    let inner = zip(&[("loop.dat", &m), ("notes.dat", b"not midi")]);
    let outer = sevenz(&[("inner.rar", &inner)]);
    let (c, stats) = walk(&outer, "pack.zip");
    // .dat is not a MIDI name, but the magic says MIDI... only for entries whose name asks for a
    // look: unknown extensions are skipped by name, so neither .dat is decoded.
    assert!(c.members.is_empty(), "{c:?}");
    assert_eq!(stats.archives, 2);
    // Extension-less entries are sniffed: MIDI magic makes a member, other bytes are skipped.
    let inner = zip(&[("loop", &m), ("notes", b"not midi")]);
    let (c, _) = walk(&sevenz(&[("inner.rar", &inner)]), "pack.zip");
    assert_eq!(c.paths(), vec!["pack.zip!/inner.rar!/loop"]);
    assert_eq!(c.skipped, vec!["(none)"]);
}

#[test]
fn nested_chain_keeps_every_step_in_the_provenance() {
    let m = midi_bytes(0, 4);
    let z = zip(&[("Kick Loops/Kick 01.mid", &m)]);
    let s = sevenz(&[("Drums.7z.zip", &z)]);
    let t = gz(&tar(&[("Trap Vol 1/Drums.7z", &s)]), None);
    let outer = zip(&[("Trap Vol 1.tgz", &t)]);
    let (c, stats) = walk(&outer, "Packs/Trap Vol 1.zip");
    assert_eq!(
        c.paths(),
        vec!["Packs/Trap Vol 1.zip!/Trap Vol 1.tgz!/Trap Vol 1/Drums.7z!/Drums.7z.zip!/Kick Loops/Kick 01.mid"]
    );
    assert_eq!(stats.archives, 4);
    assert_eq!(stats.max_depth, 4);
}

fn nested(levels: u32, m: &[u8]) -> Vec<u8> {
    let mut bytes = zip(&[("deep.mid", m)]);
    for i in 1..levels {
        bytes = zip(&[(&format!("level{i}.zip"), &bytes)]);
    }
    bytes
}

#[test]
fn nesting_ten_levels_is_walked_eleven_is_refused() {
    let m = midi_bytes(1, 5);
    let (c, stats) = walk(&nested(10, &m), "n.zip");
    assert_eq!(c.members.len(), 1, "{c:?}");
    assert_eq!(stats.max_depth, 10);
    let (c, _) = walk(&nested(11, &m), "n.zip");
    assert!(c.members.is_empty());
    assert_eq!(c.reasons(), vec![Reason::DepthLimit]);
    assert!(c.rejects[0].0.ends_with("level1.zip"), "the innermost archive is named: {:?}", c.rejects);
}

/// One stored entry whose data is referenced by `copies` central-directory entries.
fn overlapping_zip(copies: usize, data: &[u8]) -> Vec<u8> {
    let crc = crc32(data);
    let mut out = Vec::new();
    let name = b"a.mid";
    out.extend_from_slice(b"PK\x03\x04");
    out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(data);
    let cd_start = out.len() as u32;
    for i in 0..copies {
        let n = format!("copy{i:03}.mid");
        out.extend_from_slice(b"PK\x01\x02");
        out.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(copies as u16).to_le_bytes());
    out.extend_from_slice(&(copies as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 };
        }
    }
    !c
}

#[test]
fn overlapping_entries_are_refused_whole() {
    let m = midi_bytes(0, 6);
    let (c, _) = walk(&overlapping_zip(50, &m), "bomb.zip");
    assert!(c.members.is_empty(), "{c:?}");
    assert_eq!(c.reasons(), vec![Reason::OverlappingEntries]);
    // The same layout with one entry is an ordinary zip.
    let (c, _) = walk(&overlapping_zip(1, &m), "one.zip");
    assert_eq!(c.members.len(), 1, "{c:?}");
}

#[test]
fn high_ratio_entry_is_a_bomb_and_the_rest_survive() {
    let zeros = vec![0u8; 8 << 20];
    let m = midi_bytes(0, 7);
    let bytes = zip(&[("zeros.mid", &zeros), ("ok.mid", &m)]);
    let limits = ArchiveLimits { max_ratio: 100, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&bytes, "r.zip", limits);
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
    assert!(c.rejects[0].2.contains("ratio"), "{:?}", c.rejects);
    assert_eq!(c.paths(), vec!["r.zip!/ok.mid"]);
}

#[test]
fn outer_budget_and_entry_count_end_the_walk() {
    let m = midi_bytes(0, 8);
    let many: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("f{i:02}.mid"), m.clone())).collect();
    let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let bytes = zip(&refs);
    let limits = ArchiveLimits { max_entries: 5, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&bytes, "many.zip", limits);
    assert_eq!(c.members.len(), 5);
    assert_eq!(c.reasons(), vec![Reason::BombLimit]);
    let limits = ArchiveLimits { max_total_bytes: m.len() as u64 * 3, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&bytes, "many.zip", limits);
    assert!(c.members.len() <= 3, "{}", c.members.len());
    assert_eq!(c.reasons(), vec![Reason::BombLimit]);
    assert!(c.rejects[0].2.contains("budget"));
}

#[test]
fn tar_gz_stream_is_metered_as_a_whole() {
    let zeros = vec![0u8; 6 << 20];
    let t = gz(&tar(&[("big.wav", &zeros), ("late.mid", &midi_bytes(0, 1))]), None);
    let limits = ArchiveLimits { max_total_bytes: 1 << 20, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&t, "s.tar.gz", limits);
    assert!(c.members.is_empty(), "skipped bytes still count: {c:?}");
    assert_eq!(c.reasons(), vec![Reason::BombLimit]);
}

#[test]
fn huge_7z_dictionary_is_refused_before_decoding() {
    let m = midi_bytes(0, 2);
    let bytes = sevenz(&[("a.mid", &m)]);
    let limits = ArchiveLimits { max_dict_bytes: 4096, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&bytes, "d.7z", limits);
    assert!(c.members.is_empty());
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
    assert!(c.rejects[0].2.contains("dictionary"));
}

#[test]
fn encrypted_zip_entries_are_rejected_and_plain_ones_kept() {
    let m = midi_bytes(0, 3);
    let mut bytes = zip(&[("secret.mid", &m), ("open.mid", &m)]);
    // Set the encryption bit of the first entry in its local and its central header.
    bytes[6] |= 1;
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[cd + 8] |= 1;
    let (c, _) = walk(&bytes, "e.zip");
    assert_eq!(c.paths(), vec!["e.zip!/open.mid"]);
    assert_eq!(c.reasons(), vec![Reason::EncryptedArchive]);
    assert_eq!(c.rejects[0].0, "e.zip!/secret.mid");
}

#[test]
fn traversal_and_absolute_names_are_only_data() {
    let m = midi_bytes(0, 4);
    let dir = tempfile::tempdir().unwrap();
    let bytes = zip(&[("../../escape.mid", &m), ("/etc/abs.mid", &m)]);
    let mut c = Collect::default();
    Walker::new(ArchiveLimits::default(), &dir.path().join("spill"), &mut c).walk_bytes(Kind::Zip, &bytes, "t.zip");
    assert_eq!(c.paths(), vec!["t.zip!/../../escape.mid", "t.zip!//etc/abs.mid"]);
    assert!(!dir.path().join("escape.mid").exists() && !dir.path().parent().unwrap().join("escape.mid").exists());
}

#[test]
fn legacy_code_page_names_are_decoded() {
    let m = midi_bytes(0, 5);
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("ドラム.mid");
    let placeholder = "X".repeat(sjis.len() - 4) + ".mid";
    let mut bytes = zip(&[(placeholder.as_str(), &m)]);
    // Swap the ASCII placeholder for the Shift-JIS bytes (same length) in both headers; the
    // writer set no UTF-8 flag for an ASCII name.
    let ph = placeholder.as_bytes();
    let hits: Vec<usize> = bytes.windows(ph.len()).enumerate().filter(|(_, w)| *w == ph).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 2);
    for i in hits {
        bytes[i..i + ph.len()].copy_from_slice(&sjis);
    }
    let (c, _) = walk(&bytes, "jp.zip");
    assert_eq!(c.paths(), vec!["jp.zip!/ドラム.mid"]);
    assert_eq!(c.raw_names, vec![Some(sjis.to_vec())], "the raw name bytes are kept");
}

#[test]
fn nested_archive_over_the_memory_cap_is_spilled_and_walked() {
    let m = midi_bytes(3, 1);
    let inner = zip(&[("a.mid", &m), ("pad.wav", &vec![7u8; 64 << 10])]);
    let outer = zip(&[("inner.zip", &inner)]);
    let limits = ArchiveLimits { max_memory_bytes: 4096, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&outer, "o.zip", limits);
    assert_eq!(c.paths(), vec!["o.zip!/inner.zip!/a.mid"]);
}

#[test]
fn truncated_zip_salvages_entries_before_the_cut() {
    let ms: Vec<Vec<u8>> = (0..4).map(|i| midi_bytes(i, 11)).collect();
    let bytes = zip(&[("a.mid", &ms[0]), ("b.mid", &ms[1]), ("c.mid", &ms[2]), ("d.mid", &ms[3])]);
    // Cut inside the third entry's data: the directory is gone, two entries are whole.
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let third = bytes.windows(5).position(|w| w == b"c.mid").unwrap();
    let cut = &bytes[..third + 40];
    assert!(cut.len() < cd);
    let (c, _) = walk(cut, "cut.zip");
    assert_eq!(c.paths(), vec!["cut.zip!/a.mid", "cut.zip!/b.mid"], "{c:?}");
    assert!(c.reasons().iter().all(|r| *r == Reason::CorruptArchive), "{:?}", c.rejects);
}

/// Every fixture cut at many offsets and with about 1 % of its bytes damaged, many times: no
/// panic, no budget exceeded, every outcome a member, a reject or a skip (the libarchive
/// `test_fuzz` method, in the normal test run).
#[test]
fn damaged_archives_never_panic_or_escape_their_budget() {
    let (m1, m2) = (midi_bytes(0, 21), midi_bytes(4, 22));
    let contents = pack_contents(&m1, &m2);
    let refs = as_refs(&contents);
    let tarball = tar(&refs);
    let fixtures = [
        zip(&refs),
        sevenz(&refs),
        tarball.clone(),
        gz(&tarball, None),
        zst(&tarball),
        zip(&[("n.zip", &zip(&refs))]),
        overlapping_zip(3, &m1),
        rar4(&[("a.mid", &m1, 0), ("b/c.mid", &m2, 0), ("n.zip", &zip(&refs), 0)]),
    ];
    let limits = ArchiveLimits { max_total_bytes: 8 << 20, ..ArchiveLimits::default() };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (f, fixture) in fixtures.iter().enumerate() {
        for cut in (0..fixture.len()).step_by((fixture.len() / 40).max(1)) {
            let (c, _) = walk_with(&fixture[..cut], "cut", limits);
            assert!(c.members.iter().all(|m| m.2.len() as u64 <= limits.max_member_bytes));
        }
        for _ in 0..100 {
            let mut bytes = fixture.clone();
            let n = (bytes.len() / 100).max(1);
            for _ in 0..n {
                let i = (next() % bytes.len() as u64) as usize;
                bytes[i] = next() as u8;
            }
            let dir = tempfile::tempdir().unwrap();
            let mut c = Collect::default();
            let walker = Walker::new(limits, dir.path(), &mut c);
            let budget = Rc::clone(&walker.budget);
            let kind = sniff(&bytes);
            let kind = if kind.is_archive() { kind } else { [Kind::Zip, Kind::SevenZ, Kind::Tar][f % 3] };
            walker.walk_bytes(kind, &bytes, "damaged");
            assert!(budget.total.get() <= limits.max_total_bytes + (1 << 20), "fixture {f}: over budget");
        }
    }
}

/// A RAR 4 archive of stored (method 0x30) entries, written by hand from RARLAB's technote: no
/// RAR encoder is free to ship, and stored entries exercise the walk, names, nesting and
/// damage just as well. `flags` per entry: 0x04 encrypted, 0xe0 directory.
fn rar4(entries: &[(&str, &[u8], u16)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, body: &[u8]) {
        let crc = (crc32(body) & 0xffff) as u16;
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(body);
    }
    let mut out = b"Rar!\x1a\x07\x00".to_vec();
    block(&mut out, &[0x73, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0]);
    for (name, data, flags) in entries {
        let mut h = vec![0x74];
        h.extend_from_slice(&(0x8000u16 | flags).to_le_bytes());
        h.extend_from_slice(&((32 + name.len()) as u16).to_le_bytes());
        h.extend_from_slice(&(data.len() as u32).to_le_bytes());
        h.extend_from_slice(&(data.len() as u32).to_le_bytes());
        h.push(3);
        h.extend_from_slice(&crc32(data).to_le_bytes());
        h.extend_from_slice(&0x0021_0000u32.to_le_bytes());
        h.push(20);
        h.push(0x30);
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if flags & 0xe0 == 0xe0 { 0o40755u32 } else { 0o100644 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        block(&mut out, &h);
        out.extend_from_slice(data);
    }
    block(&mut out, &[0x7b, 0x00, 0x40, 7, 0]);
    out
}

#[test]
fn rar_members_nesting_and_refusals() {
    let (m1, m2) = (midi_bytes(0, 31), midi_bytes(1, 32));
    let inner = zip(&[("Keys/Chords.mid", &m2)]);
    let bytes = rar4(&[
        ("Drums", b"", 0xe0),
        ("Drums/Kick 01.mid", &m1, 0),
        ("Drums/kit.wav", b"RIFF", 0),
        ("More.zip", &inner, 0),
        ("Locked.mid", &m1, 0x04),
    ]);
    assert_eq!(sniff(&bytes), Kind::Rar);
    let (c, stats) = walk(&bytes, "/p/Pack.rar");
    assert_eq!(c.paths(), vec!["/p/Pack.rar!/Drums/Kick 01.mid", "/p/Pack.rar!/More.zip!/Keys/Chords.mid"], "{c:?}");
    assert_eq!(c.members[0].2, m1);
    assert_eq!(c.reasons(), vec![Reason::EncryptedArchive], "{:?}", c.rejects);
    assert_eq!(stats.archives, 2);
    let mut skipped = c.skipped.clone();
    skipped.sort();
    assert_eq!(skipped, vec!["(dir)", "wav"]);

    // A damaged data byte fails that entry's CRC; the entries before it are kept.
    let mut bad = bytes.clone();
    let at = bad.windows(4).position(|w| w == b"MThd").unwrap() + 20;
    bad[at] ^= 0xff;
    let (c, _) = walk(&bad, "bad.rar");
    assert!(c.reasons().contains(&Reason::CorruptArchive), "{c:?}");
    assert!(c.paths().contains(&"bad.rar!/More.zip!/Keys/Chords.mid"), "{c:?}");

    // Cut short: no panic, a reject for what is lost.
    for cut in [10, 30, bytes.len() / 2, bytes.len() - 3] {
        let (c, _) = walk(&bytes[..cut], "cut.rar");
        assert!(!c.rejects.is_empty() || !c.members.is_empty(), "cut at {cut}: {c:?}");
    }
}

#[test]
fn huge_declared_entry_count_costs_nothing() {
    let m = midi_bytes(0, 12);
    let mut bytes = zip(&[("a.mid", &m)]);
    // The end-of-central-directory record claims 65,535 entries on this disk and in total.
    let eocd = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    bytes[eocd + 8..eocd + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let (c, _) = walk(&bytes, "count.zip");
    // Either the one real entry is read (from the directory or by salvage) or the lie is a
    // corrupt archive; never an allocation sized by the claim, never a hang.
    assert!(c.members.len() <= 1, "{c:?}");
    assert!(!c.members.is_empty() || c.reasons().contains(&Reason::CorruptArchive), "{c:?}");
}

#[test]
fn symlink_entries_are_skipped_not_followed() {
    let m = midi_bytes(0, 13);
    let mut b = ::tar::Builder::new(Vec::new());
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(::tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    b.append_link(&mut h, "evil.mid", "/etc/passwd").unwrap();
    let mut h = ::tar::Header::new_gnu();
    h.set_size(m.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "real.mid", m.as_slice()).unwrap();
    let (c, _) = walk(&b.into_inner().unwrap(), "links.tar");
    assert_eq!(c.paths(), vec!["links.tar!/real.mid"]);
    assert_eq!(c.skipped, vec!["(symlink)"]);
    // A zip entry flagged as a Unix symlink is skipped the same way.
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.add_symlink("link.mid", "/etc/passwd", ::zip::write::SimpleFileOptions::default()).unwrap();
    let (c, _) = walk(&w.finish().unwrap().into_inner(), "links.zip");
    assert!(c.members.is_empty(), "{c:?}");
    assert_eq!(c.skipped, vec!["(symlink)"]);
}

#[test]
fn zip_in_7z_in_rar_in_tar_chain() {
    let m = midi_bytes(2, 14);
    let z = zip(&[("Kick.mid", &m)]);
    let s = sevenz(&[("Drums.zip", &z)]);
    let r = rar4(&[("Drums.7z", &s, 0)]);
    let t = tar(&[("Pack/Drums.rar", &r)]);
    let (c, stats) = walk(&t, "Pack.tar");
    assert_eq!(c.paths(), vec!["Pack.tar!/Pack/Drums.rar!/Drums.7z!/Drums.zip!/Kick.mid"], "{c:?}");
    assert_eq!(stats.max_depth, 4);
}

/// A 7z built by hand: one Copy-coded folder holding `files` back to back, and a plain
/// (unencoded) header whose names are the given UTF-16 units, so a test can write names no
/// `&str` can hold (unpaired surrogates).
fn sevenz_raw_names(files: &[(&[u16], &[u8])]) -> Vec<u8> {
    fn num(out: &mut Vec<u8>, v: usize) {
        assert!(v < 1 << 14);
        if v < 0x80 {
            out.push(v as u8);
        } else {
            out.push(0x80 | (v >> 8) as u8);
            out.push(v as u8);
        }
    }
    let data: Vec<u8> = files.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    let mut h = vec![0x01, 0x04, 0x06];
    num(&mut h, 0);
    num(&mut h, 1);
    h.push(0x09);
    num(&mut h, data.len());
    h.push(0x00);
    h.extend_from_slice(&[0x07, 0x0b]);
    num(&mut h, 1);
    h.extend_from_slice(&[0x00, 0x01, 0x01, 0x00]);
    h.push(0x0c);
    num(&mut h, data.len());
    h.push(0x00);
    h.extend_from_slice(&[0x08, 0x0d]);
    num(&mut h, files.len());
    h.push(0x09);
    for (_, d) in &files[..files.len() - 1] {
        num(&mut h, d.len());
    }
    h.extend_from_slice(&[0x00, 0x00, 0x05]);
    num(&mut h, files.len());
    let mut names = vec![0u8];
    for (n, _) in files {
        for u in n.iter().chain(&[0u16]) {
            names.extend_from_slice(&u.to_le_bytes());
        }
    }
    h.push(0x11);
    num(&mut h, names.len());
    h.extend_from_slice(&names);
    h.extend_from_slice(&[0x00, 0x00]);
    let mut start = Vec::new();
    start.extend_from_slice(&(data.len() as u64).to_le_bytes());
    start.extend_from_slice(&(h.len() as u64).to_le_bytes());
    start.extend_from_slice(&crc32(&h).to_le_bytes());
    let mut out = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    out.extend_from_slice(&crc32(&start).to_le_bytes());
    out.extend_from_slice(&start);
    out.extend_from_slice(&data);
    out.extend_from_slice(&h);
    out
}

#[test]
fn sevenz_unpaired_surrogate_name_does_not_lose_the_archive() {
    let (m1, m2) = (midi_bytes(0, 51), midi_bytes(1, 52));
    let good: Vec<u16> = "Good.mid".encode_utf16().collect();
    let odd: Vec<u16> = [0x0042, 0xd800, 0x002e, 0x006d, 0x0069, 0x0064].to_vec(); // "B\u{d800}.mid"
    let bytes = sevenz_raw_names(&[(&good, &m1), (&odd, &m2)]);
    let (c, _) = walk(&bytes, "odd.7z");
    assert!(c.rejects.is_empty(), "{:?}", c.rejects);
    assert_eq!(c.paths(), vec!["odd.7z!/B\u{fffd}.mid", "odd.7z!/Good.mid"]);
    assert_eq!(c.members.iter().find(|m| m.1 == "Good.mid").unwrap().2, m1);
}

#[test]
fn one_shot_inflate_keeps_every_check_of_the_stream() {
    let m = midi_bytes(0, 61);
    // A lying directory: 20 MiB of zeros declared as 100 bytes still stops at the member cap.
    let zeros = vec![0u8; 20 << 20];
    let mut bytes = zip(&[("liar.mid", &zeros), ("ok.mid", &m)]);
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[cd + 24..cd + 28].copy_from_slice(&100u32.to_le_bytes());
    let (c, _) = walk(&bytes, "liar.zip");
    assert_eq!(c.reasons(), vec![Reason::TooLarge], "{:?}", c.rejects);
    assert_eq!(c.paths(), vec!["liar.zip!/ok.mid"]);
    // A wrong CRC in the directory is caught on the one-shot path too.
    let mut bytes = zip(&[("a.mid", &m), ("b.mid", &midi_bytes(1, 62))]);
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[cd + 16] ^= 0xff;
    let (c, _) = walk(&bytes, "crc.zip");
    assert_eq!(c.reasons(), vec![Reason::CorruptArchive], "{:?}", c.rejects);
    assert!(c.rejects[0].2.contains("CRC"), "{:?}", c.rejects);
    assert_eq!(c.paths(), vec!["crc.zip!/b.mid"]);
}

/// Regressions from review: every decoded byte is metered, a cap trip does not lose what follows
/// (where the container allows), and a walk that must stop says so.
#[test]
fn sevenz_entry_over_the_cap_stops_the_7z_with_a_reject_not_an_unmetered_decode() {
    let big = vec![7u8; 10 << 20];
    let m = midi_bytes(0, 71);
    let bytes = sevenz(&[("big.wav", &big), ("after.mid", &m)]);
    let limits = ArchiveLimits { max_entry_bytes: 1 << 20, max_total_bytes: 3 << 20, ..ArchiveLimits::default() };
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collect::default();
    let walker = Walker::new(limits, dir.path(), &mut c);
    let budget = Rc::clone(&walker.budget);
    walker.walk_bytes(Kind::SevenZ, &bytes, "s.7z");
    assert!(budget.total.get() <= (2 << 20), "decoded past the cap: {}", budget.total.get());
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
    assert!(c.rejects[0].2.contains("not read"), "{:?}", c.rejects);
}

#[test]
fn rar_entry_over_the_cap_is_rejected_and_the_next_one_still_read() {
    let big = vec![7u8; 24 << 20];
    let m = midi_bytes(0, 72);
    let bytes = rar4(&[("big.mid", &big, 0), ("after.mid", &m, 0)]);
    let limits = ArchiveLimits { max_entry_bytes: 1 << 20, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&bytes, "r.rar", limits);
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
    assert_eq!(c.paths(), vec!["r.rar!/after.mid"]);
}

#[test]
fn one_shot_inflate_counts_bytes_it_then_rejects() {
    let block = vec![1u8; 1 << 20];
    let names: Vec<String> = (0..8).map(|i| format!("m{i}.mid")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), block.as_slice())).collect();
    let mut bytes = zip(&entries);
    // Break every stored CRC in the central directory.
    let mut at = 0;
    while let Some(p) = bytes[at..].windows(4).position(|w| w == b"PK\x01\x02") {
        bytes[at + p + 16] ^= 0xff;
        at += p + 4;
    }
    let limits = ArchiveLimits { max_total_bytes: 2 << 20, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&bytes, "crc.zip", limits);
    assert!(c.reasons().contains(&Reason::BombLimit), "decoded bytes must count even when rejected: {:?}", c.rejects);
    assert!(c.rejects.len() <= 3, "{:?}", c.rejects);
}

#[test]
fn a_budget_trip_inside_a_nested_archive_stops_the_walk_and_says_so() {
    let zeros = vec![0u8; 4 << 20];
    let t = gz(&tar(&[("z.wav", &zeros)]), None);
    let m = midi_bytes(0, 73);
    let later = zip(&[("in.mid", &m)]);
    let outer = zip(&[("a.tar.gz", &t), ("later.zip", &later), ("m.mid", &m)]);
    let limits = ArchiveLimits { max_ratio: 10, ..ArchiveLimits::default() };
    let (c, _) = walk_with(&outer, "o.zip", limits);
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
    assert_eq!(c.rejects[0].0, "o.zip!/a.tar.gz");
    assert!(c.rejects[0].2.contains("stopped"), "{:?}", c.rejects);
    assert!(c.members.is_empty(), "nothing after the stop is walked silently: {c:?}");
}

#[test]
fn sevenz_encoded_header_with_a_huge_dictionary_is_refused() {
    // Signature header, ten bytes of "packed header", then an encoded-header record whose one
    // coder is LZMA asking for a 1 GiB dictionary to decode 100 bytes.
    let packed = [0u8; 10];
    let mut h =
        vec![0x17, 0x06, 0x00, 0x01, 0x09, 10, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x23, 0x03, 0x01, 0x01, 0x05];
    h.extend_from_slice(&[0x5d, 0x00, 0x00, 0x00, 0x40]);
    h.extend_from_slice(&[0x0c, 100, 0x00, 0x00]);
    let mut start = Vec::new();
    start.extend_from_slice(&(packed.len() as u64).to_le_bytes());
    start.extend_from_slice(&(h.len() as u64).to_le_bytes());
    start.extend_from_slice(&crc32(&h).to_le_bytes());
    let mut bytes = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    bytes.extend_from_slice(&crc32(&start).to_le_bytes());
    bytes.extend_from_slice(&start);
    bytes.extend_from_slice(&packed);
    bytes.extend_from_slice(&h);
    let (c, _) = walk(&bytes, "hdr.7z");
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
}

#[test]
fn tar_long_names_are_read_capped_and_pax_paths_applied() {
    let m = midi_bytes(0, 81);
    let long = format!("{}/Kick.mid", "d".repeat(300));
    // The tar builder writes a GNU long-name entry for names over 100 bytes.
    let t = tar(&[(long.as_str(), &m)]);
    let (c, _) = walk(&t, "l.tar");
    assert_eq!(c.paths(), vec![format!("l.tar!/{long}")]);
    // A long-name entry declaring 20 MiB is refused before it is read.
    let mut bomb = Vec::new();
    let mut h = ::tar::Header::new_gnu();
    h.set_entry_type(::tar::EntryType::GNULongName);
    h.set_path("././@LongLink").unwrap();
    h.set_size(20 << 20);
    h.set_cksum();
    bomb.extend_from_slice(h.as_bytes());
    bomb.extend(std::iter::repeat_n(b'a', 20 << 20));
    let (c, _) = walk(&gz(&bomb, None), "ln.tar.gz");
    assert_eq!(c.reasons(), vec![Reason::BombLimit], "{:?}", c.rejects);
    // A pax `path` record names the next entry.
    let mut b = ::tar::Builder::new(Vec::new());
    let pax_name = "Ünïcode Pad.mid";
    b.append_pax_extensions([("path", pax_name.as_bytes())]).unwrap();
    let mut h = ::tar::Header::new_ustar();
    h.set_path("short.mid").unwrap();
    h.set_size(m.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, m.as_slice()).unwrap();
    let (c, _) = walk(&b.into_inner().unwrap(), "p.tar");
    assert_eq!(c.paths(), vec![format!("p.tar!/{pax_name}")]);
}
