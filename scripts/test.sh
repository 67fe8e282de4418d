#!/usr/bin/env bash
# Runs every test of the project: unit tests, the system tests (real midid + midictl on a temp
# socket) and the doc tests. Installs nothing but the Rust toolchain's own components: the
# embedded catalog is bundled SQLite, and the tests generate their own fixtures.
# PostgreSQL for the tests (scripts/pg_env.sh): MIDID_TEST_DATABASE_URL when set, else a uniquely
# named database on the local server, else a throwaway cluster from the installed binaries;
# whatever was created is dropped after the run, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pg_env.sh
source scripts/pg_env.sh
log=$(mktemp)
trap 'midid_pg_teardown; rm -f "$log"' EXIT
# A signal ends the script through exit, so the EXIT trap runs (bash skips it on a bare SIGTERM).
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
midid_pg_setup
# pipefail: the pipeline's status is cargo's (tee's is 0); kept, so the closing line is printed
# on failure too and the script then exits with it.
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo prints one per binary, the last often a
# doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
