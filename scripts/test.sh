#!/usr/bin/env bash
# Runs every test of the project: unit tests, the system tests (real midid + midictl on a temp
# socket) and the doc tests. Installs nothing but the Rust toolchain's own components: the
# embedded catalog is bundled SQLite, and the tests generate their own fixtures.
# (PostgreSQL joins here with the PostgreSQL catalog issue: this script will then start a
# throwaway cluster, or create and drop a unique database, around the run.)
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
# One closing line over every test binary (cargo prints one per binary, the last often a
# doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
