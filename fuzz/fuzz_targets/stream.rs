//! Fuzz target: arbitrary bytes walked as a tar stream (gzip and zstd around tars are reached
//! through the `walker` target, whose input picks the container by magic).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::walk(midid::unpack::Kind::Tar, data);
});
