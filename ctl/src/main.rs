//! `midictl`: the command-line client of the `midid` daemon (DESIGN section 6).
//!
//! Kept thin so that everything worth testing lives in [`cli`] and [`commands`]; the process exit
//! code is the one piece of the contract this file owns.

mod cli;
mod commands;

fn main() {
    std::process::exit(cli::run())
}
