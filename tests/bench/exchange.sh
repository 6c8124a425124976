#!/usr/bin/env bash
# End-to-end token exchange benchmark (release build, local Postgres).
# Usage: tests/bench/exchange.sh   [HOOP_BENCH_REQUESTS=2000]
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/setup >/dev/null
HOOP_LOG=${HOOP_LOG:-warn} cargo bench -p hoop --bench exchange_load --locked
