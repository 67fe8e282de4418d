#!/usr/bin/env bash
# Runs every test of the project: unit tests, the system tests (real midid + midictl on a temp
# socket) and the doc tests. Installs nothing but the Rust toolchain's own components: the
# embedded catalog is bundled SQLite, and the tests generate their own fixtures.
# (PostgreSQL joins here with the PostgreSQL catalog issue: this script will then start a
# throwaway cluster, or create and drop a unique database, around the run.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
