//! Fuzz target: arbitrary bytes through what the shard runs on a file: the MIDI parser (header
//! walk, midly events, repairs), then, on what it accepts, the analysis and the split, whose
//! parts must parse again and hold the file's notes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let arena = bumpalo::Bump::new();
    let limits = midid::midi::MidiLimits { max_events: 100_000 };
    let Ok(facts) = midid::midi::parse(data, &limits, &arena) else { return };
    let _ = midid::analysis::analyze(data, "/fuzz/Pack 140bpm Am/loop.mid", facts.duration_ticks, &arena);
    for part in midid::library::split::split(data) {
        let part_arena = bumpalo::Bump::new();
        assert!(midid::midi::parse(&part.bytes, &limits, &part_arena).is_ok(), "a part does not parse");
    }
});
