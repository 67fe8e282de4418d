//! The bomb suite: archives built to exhaust memory, disk or time, each imported alone by the real
//! `midid run` with default limits. Prints, per bomb, how it ended (reject reasons), the seconds it
//! took and the daemon's peak RSS (VmHWM). The targets (issue 3): every bomb refused, peak memory
//! under 512 MiB, each refused within 10 s. Printed, never asserted on time.
//!
//! - overlap: one deflated 64 MiB block referenced by 20,000 central-directory entries (the
//!   non-recursive zip bomb, 20,000 x 64 MiB = 1.3 TB declared);
//! - ratio: one MIDI-named entry of 2 GiB of zeros (deflated to 20 MB): the 16 MiB member cap
//!   stops it (`too_large`) long before the entry or archive budgets would;
//! - nested: zips nested 11 deep, each level holding 2 copies of the level below (1,024 paths to
//!   the innermost payload, one level past the default depth limit);
//! - dictionary: a 7z whose LZMA coder asks for a 1 GiB dictionary (the decoder would allocate
//!   it before producing a byte).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;
use common::{drop_caches, run_midid};

fn deflated_zeros(len: usize) -> (Vec<u8>, u32) {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut crc = flate2::Crc::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        e.write_all(&chunk[..n]).expect("deflate");
        crc.update(&chunk[..n]);
        left -= n;
    }
    (e.finish().expect("deflate finish"), crc.sum())
}

/// A zip whose `copies` central entries all point at one local entry.
fn overlap_bomb(copies: usize) -> Vec<u8> {
    let size = 64u32 << 20;
    let (data, crc) = deflated_zeros(size as usize);
    let mut out = Vec::new();
    let name = b"payload.mid";
    out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00");
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&data);
    let cd_start = out.len() as u32;
    for i in 0..copies {
        let n = format!("{i:05}.mid");
        out.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00");
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    let cd_len = out.len() as u32 - cd_start;
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&(copies as u16).to_le_bytes());
    out.extend_from_slice(&(copies as u16).to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn zip_of(entries: &[(String, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_level(Some(1)).large_file(true);
    for (name, data) in entries {
        w.start_file(name.as_str(), opts).expect("entry");
        w.write_all(data).expect("data");
    }
    w.finish().expect("zip").into_inner()
}

fn ratio_bomb() -> Vec<u8> {
    let zeros = vec![0u8; 2 << 30];
    zip_of(&[("zeros.mid".to_string(), &zeros)])
}

fn nested_bomb() -> Vec<u8> {
    let payload = vec![0u8; 1 << 20];
    let mut level = zip_of(&[("payload.mid".to_string(), &payload)]);
    for depth in 1..11 {
        let copies: Vec<(String, &[u8])> = (0..2).map(|i| (format!("d{depth}-{i}.zip"), level.as_slice())).collect();
        level = zip_of(&copies);
    }
    level
}

fn dictionary_bomb() -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).expect("7z");
    let mut lzma = sevenz_rust2::encoder_options::LzmaOptions::from_level(1);
    // The encoder's largest: 1 GiB - 1.
    lzma.set_dictionary_size((1 << 30) - 1);
    w.set_content_methods(vec![lzma.into()]);
    let data = b"MThd".repeat(1000);
    w.push_archive_entry(sevenz_rust2::ArchiveEntry::new_file("big-dict.mid"), Some(&data[..])).expect("entry");
    w.finish().expect("7z").into_inner()
}

/// Builds one bomb's bytes.
type Builder = fn() -> Vec<u8>;

fn main() {
    if std::env::args().all(|a| a != "--bench") {
        println!("bomb suite: run with `cargo bench -p midid --bench bombs`");
        return;
    }
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data/bombs"));
    let _ = std::fs::remove_dir_all(&root);
    let bombs: [(&str, Builder); 4] = [
        ("overlap.zip", || overlap_bomb(20_000)),
        ("ratio.zip", ratio_bomb),
        ("nested.zip", nested_bomb),
        ("dictionary.7z", dictionary_bomb),
    ];
    println!("{:<15} {:>10} {:>8} {:>12}  outcome", "bomb", "size", "secs", "peak RSS");
    for (name, make) in bombs {
        let t = Instant::now();
        let bytes = make();
        let made = t.elapsed().as_secs_f64();
        let dir = root.join(name.replace('.', "-"));
        std::fs::create_dir_all(dir.join("in")).expect("bomb dir");
        std::fs::write(dir.join("in").join(name), &bytes).expect("bomb file");
        drop(bytes);
        drop_caches();
        let run = run_midid(&dir.join("in"), &dir.join("data"));
        let size = std::fs::metadata(dir.join("in").join(name)).map(|m| m.len()).unwrap_or(0);
        println!(
            "{name:<15} {:>9}K {:>8.2} {:>9} KB  rejects {} imported {} (built in {made:.1}s)",
            size / 1024,
            run.secs,
            run.max_rss_kb,
            run.job["rejects_by_reason"],
            run.job["counts"]["imported"],
        );
    }
    let _ = std::fs::remove_dir_all(Path::new(&root));
}
