#!/usr/bin/env bash
# bench/compare.sh: outrider and node_exporter side by side, in one run.
#
# For each program, on this machine and under the same conditions:
#   1. scrapes/s under a wrk load with the headers Prometheus sends,
#   2. p99 scrape latency of that load,
#   3. CPU seconds per 1000 scrapes during that load,
#   4. idle cost: CPU seconds over IDLE_SECONDS of a 1 s scrape cadence,
#   5. VmRSS after the idle phase, and VmHWM (peak) at the end of the run.
# node_exporter runs twice: with only the collectors outrider has (the
# comparison the ratios and targets use) and with its default collector set
# (a reference row).
#
# Usage:  bench/compare.sh            (needs root only to install missing tools)
# Env:    WRK_SECONDS=10 WRK_WARMUP_SECONDS=2 WRK_THREADS=1 WRK_CONNECTIONS=8
#         IDLE_SECONDS=60
#         OUTRIDER_BIN=path           (default: the build of
#                                      scripts/build-release.sh)
#         NODE_EXPORTER_BIN=path      (default: /usr/bin/prometheus-node-exporter)
# Exit:   0 when every phase ran cleanly (the targets are informational),
#         1 when something failed to start or returned errors.

set -euo pipefail

WRK_SECONDS=${WRK_SECONDS:-10}
WRK_WARMUP_SECONDS=${WRK_WARMUP_SECONDS:-2}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-8}
IDLE_SECONDS=${IDLE_SECONDS:-60}
NODE_EXPORTER_BIN=${NODE_EXPORTER_BIN:-/usr/bin/prometheus-node-exporter}

# What Prometheus 2.x/3.x sends when scraping; both programs negotiate on it.
ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_whole WRK_SECONDS WRK_WARMUP_SECONDS WRK_THREADS WRK_CONNECTIONS IDLE_SECONDS
(( WRK_SECONDS > 0 && IDLE_SECONDS > 0 )) || die "WRK_SECONDS and IDLE_SECONDS must be > 0"

# --- tools -----------------------------------------------------------------

# Install only what is missing.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
[[ -x $NODE_EXPORTER_BIN ]] || command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
install_missing ${missing[@]+"${missing[@]}"}
[[ -x $NODE_EXPORTER_BIN ]] || NODE_EXPORTER_BIN=$(command -v prometheus-node-exporter)

build_outrider

# --- processes and cleanup -------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrider-bench.XXXXXX")
declare -A PID=() URL=() LABEL=()
NAMES=(outrider ne ne_def)   # ne = node_exporter, same collectors; ne_def = defaults
LABEL=([outrider]=outrider [ne]="node_exporter" [ne_def]="node_exporter (defaults)")
FAILED=0
set_cleanup_traps   # stops what start launched, by PID, on every exit path

# --- start everything --------------------------------------------------------

read -r P_OUT P_NE P_NE_DEF <<<"$(free_ports 3)" || die "could not find free ports"
[[ -n ${P_NE_DEF:-} ]] || die "could not find free ports"

mkdir -p "$TMP/storage" "$TMP/textfile"
start outrider "$P_OUT" "$OUTRIDER_BIN" \
    --web.listen-address "127.0.0.1:$P_OUT" --storage.path "$TMP/storage" --collect.interval 15s
# node_exporter limited to the collectors outrider implements.
start ne "$P_NE" "$NODE_EXPORTER_BIN" --collector.disable-defaults \
    --collector.cpu --collector.meminfo --collector.loadavg --collector.filesystem \
    --collector.diskstats --collector.netdev --collector.netclass --collector.stat \
    --collector.time --collector.uname --collector.vmstat --collector.netstat \
    --collector.sockstat --collector.filefd --collector.pressure --collector.conntrack \
    --collector.entropy --collector.timex --collector.os --collector.softnet \
    --collector.arp --collector.schedstat --collector.udp_queues --collector.selinux \
    --collector.mdadm \
    --collector.textfile --collector.textfile.directory="$TMP/textfile" \
    --web.listen-address="127.0.0.1:$P_NE"
# Reference: node_exporter as most people run it. The textfile directory
# points at an empty dir so a host's *.prom files do not skew it.
mkdir -p "$TMP/textfile"
start ne_def "$P_NE_DEF" "$NODE_EXPORTER_BIN" \
    --collector.textfile.directory="$TMP/textfile" --web.listen-address="127.0.0.1:$P_NE_DEF"
for name in "${NAMES[@]}"; do wait_ready "$name"; done

OUT_VERSION=$("$OUTRIDER_BIN" --version 2>&1 | head -n 1)
NE_VERSION=$("$NODE_EXPORTER_BIN" --version 2>&1 | awk 'NR == 1 { sub(/,$/, "", $1); print $1, $3 }')
# Other work on the machine skews every number; show the load we start with.
log "running: $OUT_VERSION, $NE_VERSION; $(nproc) CPUs; CLK_TCK=$CLK_TCK; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

# What each program actually serves to a Prometheus scrape: negotiated
# format, encoding, compressed size and sample count, so readers can judge
# that the payloads are comparable.
for name in "${NAMES[@]}"; do
    hdr=$(curl -sS --max-time 5 -D - -o "$TMP/$name.body" \
        -H "Accept: $ACCEPT" -H 'Accept-Encoding: gzip' "${URL[$name]}" | tr -d '\r')
    ctype=$(awk -F': ' 'tolower($1) == "content-type" { split($2, a, ";"); print a[1] }' <<<"$hdr")
    cenc=$(awk -F': ' 'tolower($1) == "content-encoding" { print $2 }' <<<"$hdr")
    bytes=$(wc -c <"$TMP/$name.body")
    samples=$(curl -sS --max-time 5 "${URL[$name]}" | grep -cv '^#' || true)
    log "$(printf '%-26s %s, %s, %s bytes, %s samples' "${LABEL[$name]}:" "$ctype" "${cenc:-identity}" "$bytes" "$samples")"
done

# --- idle phase ----------------------------------------------------------------
# Runs first, on fresh processes, so idle CPU and RSS describe a sidecar under
# normal scraping rather than one recovering from the load test.

sleep 2   # let startup work settle before the baseline
log "idle phase: ${IDLE_SECONDS}s, one scrape per second to each program"
declare -A IDLE0=() IDLE=() RSS=() HWM=() OK=()
for name in "${NAMES[@]}"; do IDLE0[$name]=$(cpu_ticks "${PID[$name]}"); done
for (( i = 0; i < IDLE_SECONDS; i++ )); do
    # One tick: a 1 s sleep and the scrapes run concurrently; wait only on
    # these PIDs (a bare wait would wait on the servers too).
    pids=()
    sleep 1 & pids+=($!)
    for name in "${NAMES[@]}"; do
        curl -s -o /dev/null --max-time 5 -w '%{http_code}\n' \
            -H "Accept: $ACCEPT" -H 'Accept-Encoding: gzip' "${URL[$name]}" \
            >>"$TMP/$name.idle" 2>/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}" || true
done
for name in "${NAMES[@]}"; do
    pid=${PID[$name]}
    IDLE[$name]=$(calc "($(cpu_ticks "$pid") - ${IDLE0[$name]}) / $CLK_TCK")
    RSS[$name]=$(calc "$(status_kib "$pid" VmRSS) / 1024")
    OK[$name]=$(grep -c '^200$' "$TMP/$name.idle" || true)
    if (( OK[$name] != IDLE_SECONDS )); then
        log "WARNING: ${LABEL[$name]} answered ${OK[$name]}/$IDLE_SECONDS idle scrapes with 200"
        FAILED=1
    fi
done

# --- load phase ------------------------------------------------------------------
# One program at a time: on 2 cores wrk takes one, the server gets the other.

# wrk_run URL SECONDS OUTFILE; bounded by timeout in case wrk hangs.
wrk_run() {
    timeout -k 5 $(( $2 + 30 )) wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$2s" \
        --timeout 5s --latency -H "Accept: $ACCEPT" -H 'Accept-Encoding: gzip' "$1" >"$3" 2>&1
}

declare -A RPS=() P99=() CPU1K=() REQS=()
for name in "${NAMES[@]}"; do
    log "load: ${LABEL[$name]}, wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_SECONDS}s (+${WRK_WARMUP_SECONDS}s warmup)"
    # Warmup so connection setup and first-touch allocation are not measured.
    if (( WRK_WARMUP_SECONDS > 0 )); then
        wrk_run "${URL[$name]}" "$WRK_WARMUP_SECONDS" "$TMP/$name.warmup" || die "wrk warmup failed for ${LABEL[$name]}"
    fi
    t0=$(cpu_ticks "${PID[$name]}")
    wrk_run "${URL[$name]}" "$WRK_SECONDS" "$TMP/$name.wrk" || { cat "$TMP/$name.wrk" >&2; die "wrk failed for ${LABEL[$name]}"; }
    t1=$(cpu_ticks "${PID[$name]}")
    out=$TMP/$name.wrk
    REQS[$name]=$(awk '/ requests in / { print $1 }' "$out")
    RPS[$name]=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
    # wrk prints latencies as 812.00us, 1.23ms, 1.05s or 1.00m.
    P99[$name]=$(awk '$1 == "99%" {
        v = $2
        if (v ~ /us$/) v = v * 0.001; else if (v ~ /ms$/) v = v + 0
        else if (v ~ /s$/) v = v * 1000; else if (v ~ /m$/) v = v * 60000
        printf "%.2f", v }' "$out")
    [[ -n ${REQS[$name]} && -n ${RPS[$name]} && -n ${P99[$name]} ]] || { cat "$out" >&2; die "could not parse wrk output"; }
    (( REQS[$name] > 0 )) || die "no requests completed against ${LABEL[$name]}"
    CPU1K[$name]=$(calc "($t1 - $t0) / $CLK_TCK / ${REQS[$name]} * 1000")
    # Errors make the numbers meaningless; report them and exit non-zero.
    errs=$(awk '/Non-2xx or 3xx responses:/ { print "non-2xx " $NF } /Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out" | paste -sd ';' -)
    if [[ -n $errs ]]; then
        log "WARNING: ${LABEL[$name]}: $errs"
        FAILED=1
    fi
done

for name in "${NAMES[@]}"; do
    HWM[$name]=$(calc "$(status_kib "${PID[$name]}" VmHWM) / 1024")
done

# --- report ------------------------------------------------------------------------

IDLE_H="idle CPU s/${IDLE_SECONDS}s"
COLS=("scrapes/s" "p99 ms" "CPU s/1k scrapes" "$IDLE_H" "RSS MiB" "peak RSS MiB")

# row_values NAME: the six cells for a program.
row_values() {
    local n=$1
    printf '%.0f\n%s\n%.3g\n%.2f\n%.1f\n%.1f\n' "${RPS[$n]}" "${P99[$n]}" "${CPU1K[$n]}" \
        "${IDLE[$n]}" "${RSS[$n]}" "${HWM[$n]}"
}
# ratio_values REF: outrider/REF for each cell.
ratio_values() {
    local r=$1 c
    for c in "${RPS[outrider]} ${RPS[$r]}" "${P99[outrider]} ${P99[$r]}" \
        "${CPU1K[outrider]} ${CPU1K[$r]}" "${IDLE[outrider]} ${IDLE[$r]}" \
        "${RSS[outrider]} ${RSS[$r]}" "${HWM[outrider]} ${HWM[$r]}"; do
        # shellcheck disable=SC2086 # two numbers, split on purpose
        echo "$(ratio $c)x"
    done
}

ROW_NAMES=("outrider" "node_exporter" "node_exporter (defaults)" \
    "ratio outrider/node_exporter" "ratio outrider/defaults")
declare -a ROWS=()
mapfile -t v < <(row_values outrider);  ROWS+=("$(IFS='|'; echo "${v[*]}")")
mapfile -t v < <(row_values ne);        ROWS+=("$(IFS='|'; echo "${v[*]}")")
mapfile -t v < <(row_values ne_def);    ROWS+=("$(IFS='|'; echo "${v[*]}")")
mapfile -t v < <(ratio_values ne);      ROWS+=("$(IFS='|'; echo "${v[*]}")")
mapfile -t v < <(ratio_values ne_def);  ROWS+=("$(IFS='|'; echo "${v[*]}")")

SETUP="$(nproc) CPUs, $OUT_VERSION vs $NE_VERSION; wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_SECONDS}s with Prometheus scrape headers, one program at a time; idle = ${IDLE_SECONDS}s at 1 scrape/s; RSS after idle, peak at end"

echo
echo "outrider vs node_exporter ($SETUP)"
echo
printf '%-30s' ""
printf '%18s' "${COLS[@]}"
echo
for i in "${!ROW_NAMES[@]}"; do
    IFS='|' read -ra v <<<"${ROWS[$i]}"
    printf '%-30s' "${ROW_NAMES[$i]}"
    printf '%18s' "${v[@]}"
    echo
done
echo "(CPU from /proc/PID/stat utime+stime, resolution 1/$CLK_TCK s; node_exporter = same collectors as outrider)"

# Targets against node_exporter with the same collectors; informational only.
echo
echo "targets (outrider vs node_exporter, same collectors):"
check_target "idle CPU" "$(ratio "${IDLE[outrider]}" "${IDLE[ne]}")" "<=" 0.5
check_target "RSS" "$(ratio "${RSS[outrider]}" "${RSS[ne]}")" "<=" 0.5
check_target "throughput" "$(ratio "${RPS[outrider]}" "${RPS[ne]}")" ">=" 10

echo
echo "--- markdown ---"
markdown_table
echo
echo "_${SETUP}. node_exporter runs with only the collectors outrider has; \"defaults\" is its default collector set._"
echo "--- markdown ---"

(( FAILED == 0 )) || { log "some phases reported errors (see warnings above)"; exit 1; }
