#!/usr/bin/env bash
# bench/baselines_vs_prometheus.sh: the same baseline (1h mean and standard
# deviation) of SERIES gauge series at a STEP-second step, computed side by
# side in one run by
#   (A) Prometheus: scrapes a static file of the series every STEP s and
#       evaluates avg_over_time(bench_gauge[1h]) and
#       stddev_over_time(bench_gauge[1h]) as recording rules every STEP s;
#   (B) outrider: examples/baseline_load, a Tracker fed the same number of
#       series every STEP s (EWMA mean/deviation with a 1h half-life, plus
#       outrider's default 5m/1h/1d rolling windows).
# Both run for DURATION seconds after Prometheus' first scrape; reported are
# CPU seconds (utime+stime from /proc/PID/stat) and VmRSS / VmHWM, and the
# ratios outrider/Prometheus.
#
# Prometheus' cost includes scraping, ingesting and storing the series: that
# is the point of the comparison, since outrider needs no stored history.
#
# Usage:  bench/baselines_vs_prometheus.sh   (root only to install prometheus)
# Env:    SERIES=10000 STEP=15 DURATION=120
#         STEP=1 compresses time: scrape and evaluation interval 1s, and the
#         example ticks every 1 s.
#         PROMETHEUS_BIN=path   (default: prometheus on PATH)
#         LOAD_BIN=path         (default: cargo build --release --example
#                                baseline_load, then target/release/examples/…)
# Exit:   0 when both ran and Prometheus produced the recording rules,
#         1 otherwise.

set -euo pipefail

SERIES=${SERIES:-10000}
STEP=${STEP:-15}
DURATION=${DURATION:-120}

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for v in SERIES STEP DURATION; do
    require_whole "$v"
    (( ${!v} > 0 )) || die "$v must be more than 0"
done

# --- tools -----------------------------------------------------------------

command -v python3 >/dev/null || die "python3 is needed (file server and value writer)"
missing=()
command -v curl >/dev/null || missing+=(curl)
[[ -n ${PROMETHEUS_BIN:-} ]] || command -v prometheus >/dev/null || missing+=(prometheus)
install_missing ${missing[@]+"${missing[@]}"}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-$(command -v prometheus)}
[[ -x $PROMETHEUS_BIN ]] || die "no prometheus binary at $PROMETHEUS_BIN"

if [[ -z ${LOAD_BIN:-} ]]; then
    log "cargo build --release --example baseline_load"
    (cd "$REPO" && cargo build --release --quiet --example baseline_load) || die "cargo build failed"
    LOAD_BIN=$REPO/target/release/examples/baseline_load
fi
[[ -x $LOAD_BIN ]] || die "no baseline_load binary at $LOAD_BIN"

# --- processes and cleanup -------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrider-baselines.XXXXXX")
declare -A PID=()
OK=1
# Stops what start_bg launched, by PID (TERM, up to 5 s grace so Prometheus
# flushes its head, then KILL), on every exit path.
set_cleanup_traps

alive() {
    kill -0 "${PID[$1]}" 2>/dev/null && return 0
    tail -n 20 "$TMP/$1.log" >&2
    die "$1 exited unexpectedly"
}

# ms SECONDS: milliseconds with 1 decimal, or ? when the query gave nothing.
ms() { [[ -n $1 ]] && awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }' || echo '?'; }

# promql EXPR: the first value of an instant query, or empty.
promql() {
    curl -fsS --max-time 10 "http://127.0.0.1:$P_PROM/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
        python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}

# --- the series, served for Prometheus ---------------------------------------

read -r P_HTTP P_PROM <<<"$(free_ports 2)" || die "could not find free ports"
[[ -n ${P_PROM:-} ]] || die "could not find free ports"
mkdir -p "$TMP/www" "$TMP/data"

# New values every STEP s, written to a temp file and renamed so a scrape
# never sees half a file; the same noisy sine as the example. Bounded by its
# own deadline in case the trap never runs.
cat >"$TMP/writer.py" <<'EOF'
import math, os, random, sys, time
path, series, step, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
deadline = time.time() + seconds
rng = random.Random(42)
while time.time() < deadline:
    now = time.time()
    lines = ["# HELP bench_gauge Synthetic gauge.", "# TYPE bench_gauge gauge"]
    for i in range(series):
        v = 100 + 10 * math.sin(math.tau * now / 3600 + i * 0.1) + 4 * (rng.random() - 0.5)
        lines.append('bench_gauge{series="%d"} %.6f' % (i, v))
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    time.sleep(max(0.0, step - (time.time() - now)))
EOF
# .txt so http.server sends text/plain, the exposition format's type.
start_bg writer python3 "$TMP/writer.py" "$TMP/www/metrics.txt" "$SERIES" "$STEP" $(( DURATION + 4 * STEP + 600 ))
start_bg http python3 -m http.server "$P_HTTP" --bind 127.0.0.1 --directory "$TMP/www"

cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: ${STEP}s
  scrape_timeout: $(( STEP < 10 ? STEP : 10 ))s
  evaluation_interval: ${STEP}s
rule_files:
  - $TMP/rules.yml
scrape_configs:
  - job_name: bench
    metrics_path: /metrics.txt
    static_configs:
      - targets: ['127.0.0.1:$P_HTTP']
EOF
cat >"$TMP/rules.yml" <<'EOF'
groups:
  - name: baseline
    rules:
      - record: bench_gauge:avg_over_time_1h
        expr: avg_over_time(bench_gauge[1h])
      - record: bench_gauge:stddev_over_time_1h
        expr: stddev_over_time(bench_gauge[1h])
EOF

start_bg prometheus "$PROMETHEUS_BIN" --config.file="$TMP/prometheus.yml" \
    --storage.tsdb.path="$TMP/data" --web.listen-address="127.0.0.1:$P_PROM"
start_bg outrider "$LOAD_BIN" "$SERIES" "$STEP"

# Ready, then the first full scrape (bounded): measuring from here leaves out
# startup in both.
for (( i = 0; ; i++ )); do
    alive prometheus; alive http; alive writer; alive outrider
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$P_PROM/-/ready" 2>/dev/null && break
    (( i < 300 )) || die "prometheus not ready after 30 s"
    sleep 0.1
done
limit=$(( 3 * STEP + 30 ))
for (( i = 0; ; i++ )); do
    alive prometheus
    [[ $(promql 'count(bench_gauge)') == "$SERIES" ]] && break
    (( i < limit )) || die "prometheus did not scrape $SERIES series within ${limit}s"
    sleep 1
done

# baseline_load warms its series with back-dated ticks first, so its
# measurement is of the steady state too (bounded).
for (( i = 0; ; i++ )); do
    alive outrider
    grep -q 'baseline_load: warm' "$TMP/outrider.log" && break
    (( i < 600 )) || die "baseline_load not warm after 60 s"
    sleep 0.1
done

PROM_VERSION=$("$PROMETHEUS_BIN" --version 2>&1 | awk 'NR == 1 { print $3 }')
log "running: prometheus $PROM_VERSION vs $(basename "$LOAD_BIN"); $SERIES series, step ${STEP}s, ${DURATION}s; $(nproc) CPUs; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

NAMES=(outrider prometheus http writer)
declare -A C0=() CPU=() RSS=() HWM=()
for name in "${NAMES[@]}"; do C0[$name]=$(cpu_ticks "${PID[$name]}"); done
for (( i = 0; i < DURATION; i++ )); do
    sleep 1
    for name in "${NAMES[@]}"; do alive "$name"; done
done
for name in "${NAMES[@]}"; do
    pid=${PID[$name]}
    CPU[$name]=$(calc "($(cpu_ticks "$pid") - ${C0[$name]}) / $CLK_TCK")
    RSS[$name]=$(awk -v k="$(status_kib "$pid" VmRSS)" 'BEGIN { printf "%.1f", k / 1024 }')
    HWM[$name]=$(awk -v k="$(status_kib "$pid" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
done

# --- checks and context (after the measurement, so they cost nothing in it) --

AVG_N=$(promql 'count(bench_gauge:avg_over_time_1h)')
SD_N=$(promql 'count(bench_gauge:stddev_over_time_1h)')
if [[ $AVG_N != "$SERIES" || $SD_N != "$SERIES" ]]; then
    log "WARNING: Prometheus recorded ${AVG_N:-0} avg and ${SD_N:-0} stddev series, expected $SERIES each"
    OK=0
fi
# Prometheus' own metrics are not scraped into its TSDB here: read them off
# its /metrics.
curl -fsS --max-time 10 "http://127.0.0.1:$P_PROM/metrics" >"$TMP/prom.metrics" 2>/dev/null || true
own() { awk -v n="$1" '$1 == n || index($1, n "{") == 1 { print $2; exit }' "$TMP/prom.metrics"; }
RULE_MS=$(ms "$(own prometheus_rule_group_last_duration_seconds)")
SCRAPE_MS=$(ms "$(promql 'max(scrape_duration_seconds{job="bench"})')")
HEAD_SERIES=$(own prometheus_tsdb_head_series)
IN_WINDOW=$(promql 'max(count_over_time(bench_gauge[1h]))')
DISK_MIB=$(awk -v k="$(du -sk "$TMP/data" | cut -f1)" 'BEGIN { printf "%.1f", k / 1024 }')
OUT_LAST=$(grep 'mean_tick_ms' "$TMP/outrider.log" | tail -n 1 || true)
OUT_MS=$(sed -n 's/.*mean_tick_ms=\([0-9.]*\).*/\1/p' <<<"$OUT_LAST")
if [[ -z $OUT_LAST ]]; then
    log "WARNING: baseline_load reported no ticks (it reports about every 10 s)"
fi

# --- report ------------------------------------------------------------------------

COLS=("CPU s/${DURATION}s" "% of one core" "RSS MiB" "peak RSS MiB")
row() {
    printf '%.2f|%.2f|%.1f|%.1f' "${CPU[$1]}" "$(calc "${CPU[$1]} / $DURATION * 100")" "${RSS[$1]}" "${HWM[$1]}"
}
ROW_NAMES=("outrider (baseline_load)" "Prometheus" "ratio outrider/Prometheus")
ROWS=("$(row outrider)" "$(row prometheus)"
    "$(ratio "${CPU[outrider]}" "${CPU[prometheus]}")x|$(ratio "${CPU[outrider]}" "${CPU[prometheus]}")x|$(ratio "${RSS[outrider]}" "${RSS[prometheus]}")x|$(ratio "${HWM[outrider]}" "${HWM[prometheus]}")x")

SETUP="$SERIES gauge series, 1h mean and stddev every ${STEP}s, ${DURATION}s measured after the first scrape; $(nproc) CPUs; Prometheus $PROM_VERSION"
NOTES=(
    "Prometheus' cost includes scraping, parsing, ingesting and storing the series (TSDB head, WAL: ${DISK_MIB} MiB on disk, ${HEAD_SERIES:-?} head series incl. the recorded ones): that is the point of the comparison, since outrider keeps fixed-size state per series and no history."
    "Prometheus: last rule-group evaluation ${RULE_MS} ms, last scrape ${SCRAPE_MS} ms. Its 1h window held only ${IN_WINDOW:-?} samples per series in this run; after an hour it holds $(( 3600 / STEP )), so the rules' cost grows until then. outrider's per-tick cost does not grow: its state is fixed-size, and it was warmed with min_samples back-dated ticks before the measurement."
    "outrider: mean tick ${OUT_MS:-?} ms (${OUT_LAST:-no report yet}). It does not scrape, parse or serve HTTP here; it does compute the 5m/1h/1d windows and the anomaly ratio/z-score beyond the mean and deviation."
    "Not counted for Prometheus: the python file server (${CPU[http]} CPU s, ${RSS[http]} MiB) and the value writer (${CPU[writer]} CPU s, ${RSS[writer]} MiB)."
    "CPU from /proc/PID/stat utime+stime, resolution 1/${CLK_TCK} s; RSS is VmRSS at the end, peak is VmHWM."
)

echo
echo "baselines: outrider vs Prometheus ($SETUP)"
echo
printf '%-28s' ""
printf '%16s' "${COLS[@]}"
echo
for i in "${!ROW_NAMES[@]}"; do
    IFS='|' read -ra v <<<"${ROWS[$i]}"
    printf '%-28s' "${ROW_NAMES[$i]}"
    printf '%16s' "${v[@]}"
    echo
done
echo
printf -- '- %s\n' "${NOTES[@]}"

echo
echo "--- markdown ---"
markdown_table
echo
echo "_${SETUP}._"
echo
printf -- '- %s\n' "${NOTES[@]}"
echo "--- markdown ---"

(( OK )) || { log "Prometheus did not produce the expected recording rules (see warnings above)"; exit 1; }
