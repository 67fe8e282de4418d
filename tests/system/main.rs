//! System tests: the real `midid serve` on a temp socket and data dir, driven by the real
//! `midictl`, as a user would. Fixtures are generated in the tests (no downloads, no `../shared`).

mod analysis;
mod archives;
mod export;
mod harness;
mod hygiene;
mod import;
mod library;
mod lifecycle;
mod postgres;
mod protocol;
mod query;
mod tuning;
