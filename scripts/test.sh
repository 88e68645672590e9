#!/usr/bin/env bash
# Installs what the tests need (Debian packages, as root with apt-get) and runs
# every test: formatting, lints, unit, property and end-to-end tests against
# the real Prometheus, promtool, node_exporter, process-exporter, Alertmanager,
# the Pushgateway and a container engine; then the fuzz targets for a bounded
# time.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
command -v prometheus-process-exporter >/dev/null || missing+=(prometheus-process-exporter)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v prometheus-pushgateway >/dev/null || missing+=(prometheus-pushgateway)
# A real client library's push functions, in tests/push.rs.
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || missing+=(python3-prometheus-client)
command -v curl >/dev/null || missing+=(curl)
# libFuzzer, which scripts/fuzz.sh builds, is C++.
command -v c++ >/dev/null || missing+=(g++)
# The container engine of tests/containers.rs (see scripts/container-engine).
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[ -x /bin/busybox ] || missing+=(busybox-static)
# The pods of tests/pod.rs (podman kube play): the pause process, and the
# network that lets a pod reach the host's 127.0.0.1.
command -v catatonit >/dev/null || missing+=(catatonit)
command -v slirp4netns >/dev/null || missing+=(slirp4netns)
# The real Redis that tests/probes.rs probes with PING and +PONG.
command -v redis-server >/dev/null || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
# Lints every target, benches and examples included, so they keep compiling.
cargo clippy --locked --all-targets -- -D warnings
# Benches run with `cargo bench` (or the scripts in bench/), not as tests:
# in a debug build they take minutes and measure nothing.
cargo test --locked --lib --bins --tests
# The committed alerts/, grafana/ and deploy/ must be what the rules
# generate; `cargo run -- generate` rewrites them.
cargo run --locked --quiet -- generate --check
# Every fuzz target for a bounded time (FUZZ_SECONDS each, 15 by default;
# 0 skips fuzzing), from an unoptimised build that is quicker to make; the
# corpus also ran above, in tests/fuzz_corpus.rs.
if [ "${FUZZ_SECONDS:-15}" != 0 ]; then
  FUZZ_BUILD=${FUZZ_BUILD:-dev} scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
fi
