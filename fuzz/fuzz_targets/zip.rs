//! Fuzz target: arbitrary bytes walked as Zip (whatever their magic says).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::walk(midid::unpack::Kind::Zip, data);
});
