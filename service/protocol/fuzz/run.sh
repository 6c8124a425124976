#!/usr/bin/env bash
# Runs every fuzz target of hoop-protocol for a bounded time: ./run.sh [SECONDS_PER_TARGET]
# (default 30). Installs cargo-fuzz if missing. cargo-fuzz needs nightly-only rustc flags
# (-Zsanitizer); on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
#
# New inputs libFuzzer finds go to a scratch corpus, so the seed corpus in corpus/ (generated
# from tests/replay.rs) stays reviewable. Crashes land in artifacts/<target>/ and fail the run.
set -euo pipefail

seconds="${1:-30}"
cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# The list first: a failing `cargo fuzz list` inside the loop's word list would fuzz nothing
# and exit 0.
if ! targets="$(cargo fuzz list)"; then
    echo "cargo fuzz list failed: no fuzz target could be listed" >&2
    exit 1
fi
if [[ -z "${targets//[[:space:]]/}" ]]; then
    echo "cargo fuzz list found no fuzz target in $(pwd)" >&2
    exit 1
fi

for target in $targets; do
    mkdir -p "$scratch/$target"
    echo "== fuzzing $target for ${seconds}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds"
done
