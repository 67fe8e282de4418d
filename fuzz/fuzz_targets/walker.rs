//! Fuzz target: arbitrary bytes through magic-byte detection and the nested walker, as the shard
//! sees them (gzip and zstd streams are reached through the magic of the input).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let kind = midid::unpack::sniff(data);
    if kind.is_archive() {
        common::walk(kind, data);
    }
});
