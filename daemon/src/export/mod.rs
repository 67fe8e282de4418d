//! Exports to Akai MPC / Force hardware formats.
//!
//! A library is only useful on the machine a producer plays: the MPC and the Force load
//! `.mpcpattern` into a track or clip and `.progression` into Pad Perform, and neither format is
//! published by Akai. The writers here follow our reverse-engineered writer profile (FORMATS.md
//! sections 1.8 and 2.5) byte for byte, and each comes with a checker for the profile's rules so
//! an export can be verified without the hardware. The export job (which files go where on a
//! drive, `plan.rs`; writing it, `run.rs`) is built on these pure functions.

mod json;
pub mod mpcpattern;
pub mod plan;
pub mod progression;
pub mod run;

/// A broken rule of a writer profile: the rule's id (`MPCP-004`, `PROG-007`) and what broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}
