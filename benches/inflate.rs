//! Deflate decoding of MIDI-sized members: flate2 (zlib-rs backend, streaming, what `zip` uses
//! here) against zune-inflate (one-shot into a Vec), in the same run, on the same data: every
//! file of a generated 20,000-file corpus deflated at level 6, as zip tools store them. Prints
//! MB/s of output for both and the ratio. Issue 3 asks for zune-inflate where it measures
//! faster; this is the measurement.

use std::io::{Read, Write};
use std::time::Instant;

use midid::gen::midi_bytes;

fn main() {
    if std::env::args().all(|a| a != "--bench") {
        println!("inflate benchmark: run with `cargo bench -p midid --bench inflate`");
        return;
    }
    let originals: Vec<Vec<u8>> = (0..20_000).map(|i| midi_bytes(i, i as u64)).collect();
    let total: usize = originals.iter().map(Vec::len).sum();
    let packed: Vec<Vec<u8>> = originals
        .iter()
        .map(|o| {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(o).expect("deflate");
            e.finish().expect("deflate finish")
        })
        .collect();
    let packed_total: usize = packed.iter().map(Vec::len).sum();
    println!(
        "{} members, {:.1} MB inflated from {:.1} MB",
        packed.len(),
        total as f64 / 1e6,
        packed_total as f64 / 1e6
    );
    println!("{:<6} {:>14} {:>14} {:>8}", "round", "flate2 MB/s", "zune MB/s", "zune/flate2");
    for round in 1..=5 {
        let t = Instant::now();
        let mut out = Vec::new();
        let mut n = 0;
        for p in &packed {
            out.clear();
            flate2::read::DeflateDecoder::new(p.as_slice()).read_to_end(&mut out).expect("flate2");
            n += out.len();
        }
        let flate = n as f64 / t.elapsed().as_secs_f64() / 1e6;
        let t = Instant::now();
        let mut n = 0;
        for p in &packed {
            let opts = zune_inflate::DeflateOptions::default().set_limit(16 << 20);
            let out = zune_inflate::DeflateDecoder::new_with_options(p, opts).decode_deflate().expect("zune");
            n += out.len();
        }
        let zune = n as f64 / t.elapsed().as_secs_f64() / 1e6;
        println!("{round:<6} {flate:>14.0} {zune:>14.0} {:>11.2}x", zune / flate);
    }
}
