#!/usr/bin/env bash
# End-to-end gateway benchmark: pgbench and COPY streaming against Postgres, PgBouncer and hoop
# (release build, local Postgres). The benchmark starts its own PgBouncer; the Debian service is
# never started.
# Usage: [HOOP_BENCH_SECONDS=15] [HOOP_BENCH_STREAM_MB=1024] [HOOP_BENCH_TARGETS=hoop,hoop-tmpfs,...]
#        [HOOP_BENCH_DIR=/var/tmp] tests/bench/gateway.sh
# HOOP_BENCH_TARGETS: the hoop targets (default all: hoop, hoop-tmpfs, hoop-result, hoop-nomask,
# hoop+tls); HOOP_BENCH_DIR: where the run's files and the on-disk spools go (on disk, not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/setup >/dev/null
if [[ ! -x /usr/sbin/pgbouncer ]]; then
  echo "gateway.sh: installing pgbouncer" >&2
  # Keep the package's init script from starting the system-wide service.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
HOOP_LOG=${HOOP_LOG:-warn} cargo bench -p hoop --bench gateway_load --locked
