//! Fuzz target: arbitrary bytes through the MIDI parser (header walk, midly events, repairs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let arena = bumpalo::Bump::new();
    let _ = midid::midi::parse(data, &midid::midi::MidiLimits { max_events: 100_000 }, &arena);
});
