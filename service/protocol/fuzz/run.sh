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

for target in $(cargo fuzz list); do
    mkdir -p "$scratch/$target"
    echo "== fuzzing $target for ${seconds}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds"
done
