#!/usr/bin/env bash
# bench/push_vs_pushgateway.sh: outrider's push endpoints and the Prometheus
# Pushgateway side by side, in one run.
#
# Both hold GROUP_COUNT groups (/metrics/job/bench/instance/<i>) of
# SAMPLES_PER_PUSH series each (half in a gauge family, half in a counter
# family, with labels): 1000 x 100 = 100k series by default. Then, one
# program at a time:
#   1. Pushgateway-API load: wrk -t$WRK_THREADS -c$WRK_CONNECTIONS for
#      LOAD_SECONDS, every request a PUT of one group's SAMPLES_PER_PUSH
#      samples (text format), the groups taken round-robin. Reported:
#      pushes/s and samples/s accepted (2xx only; non-2xx and socket errors
#      are reported), p99 latency, CPU seconds (utime+stime of the server
#      from /proc/PID/stat) and samples per CPU second.
#   1b. The same load in the delimited protobuf format
#      (application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
#      encoding=delimited): the same groups and series, after the memory
#      reading below, so that reading is the text load's.
#   1c. outrider alone: OTLP/HTTP protobuf (POST /v1/metrics), one
#      ExportMetricsServiceRequest per request: a resource with service.name
#      "bench" and service.instance.id <i> (so the same groups), one scope,
#      a gauge and a monotonic CUMULATIVE sum with the same attributes and
#      values, which translate to the same series. The Pushgateway has no
#      OTLP, so its best Pushgateway-API format is the comparison.
#   2. Memory: the series each exposes are counted on its /metrics (only
#      the bench families, not its own metrics nor push_time_seconds), then
#      VmRSS is read; bytes/series = (VmRSS - idle VmRSS) / series, where
#      idle VmRSS is read right after start, before any push.
#   3. outrider alone: JSON batches (POST /api/v1/metrics/push, 100 counter
#      updates each, JSON_SERVICES services round-robin) with wrk on one
#      connection and on WRK_CONNECTIONS; samples/s and samples per CPU
#      second of outrider.
#   4. Reference (SHM_RUN=1, the default): another outrider with its
#      storage on /dev/shm, where fdatasync costs nothing, through the same
#      Pushgateway-API load (SHM_LOAD_SECONDS) and both JSON loads. The gap
#      to the main rows is what syncing the push log costs. Not used for
#      the targets.
#
# outrider acknowledges a push only once its log record is fdatasync'ed
# (pushers that arrive together share a sync); its storage is a fresh
# directory under TMPDIR (default /tmp), so the disk behind TMPDIR matters.
# The Pushgateway runs as upstream ships it: in memory only
# (--persistence.file= empty; Debian's default points at /var/lib), with its
# consistency check on, which answers 200 after the push is checked against
# every metric it holds and applied.
#
# Filling the Pushgateway to 100k series through its own API takes minutes:
# each push re-checks everything held, so a fill is quadratic. So a first
# Pushgateway, started with --push.disable-consistency-check and a
# persistence file in the scratch directory, takes the same GROUP_COUNT PUTs
# (answered 202, applied in the background) and writes the file when
# stopped; the measured Pushgateway (default flags, plus that
# --persistence.file and --persistence.interval=1h, so it writes nothing
# during the run) starts from it. Its idle VmRSS is the first one's, read
# right after start, before any push. outrider is filled through its API.
#
# The protobuf and OTLP bodies are encoded once, before any load, by a few
# lines of python3 (standard library only) below.
#
# Usage:  bench/push_vs_pushgateway.sh   (needs root only to install wrk or the Pushgateway)
# Env:    GROUP_COUNT=1000 SAMPLES_PER_PUSH=100 LOAD_SECONDS=20 JSON_SECONDS=10
#         WRK_THREADS=1 WRK_CONNECTIONS=8 JSON_SERVICES=10 SHM_RUN=1
#         SHM_LOAD_SECONDS=10 COLLECT_INTERVAL=5
#         PG_METHOD=PUT               (or POST)
#         OUTRIDER_BIN=path           (default: the build of
#                                      scripts/build-release.sh)
#         PUSHGATEWAY_BIN=path        (default: /usr/bin/prometheus-pushgateway)
# Exit:   0 when every phase ran cleanly (the targets are informational),
#         1 when something failed to start or returned errors.

set -euo pipefail

GROUP_COUNT=${GROUP_COUNT:-1000}
SAMPLES_PER_PUSH=${SAMPLES_PER_PUSH:-100}
LOAD_SECONDS=${LOAD_SECONDS:-20}
JSON_SECONDS=${JSON_SECONDS:-10}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-8}
JSON_SERVICES=${JSON_SERVICES:-10}
JSON_BATCH=100
SHM_RUN=${SHM_RUN:-1}
SHM_LOAD_SECONDS=${SHM_LOAD_SECONDS:-10}
COLLECT_INTERVAL=${COLLECT_INTERVAL:-5}
PG_METHOD=${PG_METHOD:-PUT}
PUSHGATEWAY_BIN=${PUSHGATEWAY_BIN:-/usr/bin/prometheus-pushgateway}
FILL_TIMEOUT=180     # s, for one fill of GROUP_COUNT pushes
SERIES_TIMEOUT=60    # s, for the series to show on /metrics

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_whole GROUP_COUNT SAMPLES_PER_PUSH LOAD_SECONDS JSON_SECONDS WRK_THREADS WRK_CONNECTIONS \
    JSON_SERVICES SHM_RUN SHM_LOAD_SECONDS COLLECT_INTERVAL
for v in GROUP_COUNT LOAD_SECONDS JSON_SECONDS WRK_THREADS WRK_CONNECTIONS JSON_SERVICES \
    SHM_LOAD_SECONDS COLLECT_INTERVAL; do
    (( ${!v} > 0 )) || die "$v must be more than 0"
done
(( SAMPLES_PER_PUSH >= 2 && SAMPLES_PER_PUSH % 2 == 0 )) || die "SAMPLES_PER_PUSH must be even and at least 2"
(( WRK_CONNECTIONS >= WRK_THREADS )) || die "WRK_CONNECTIONS must be at least WRK_THREADS"
[[ $PG_METHOD == PUT || $PG_METHOD == POST ]] || die "PG_METHOD must be PUT or POST"
SERIES_EXPECTED=$(( GROUP_COUNT * SAMPLES_PER_PUSH ))

# --- prerequisites ---------------------------------------------------------

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
[[ -x $PUSHGATEWAY_BIN ]] || command -v prometheus-pushgateway >/dev/null || missing+=(prometheus-pushgateway)
install_missing ${missing[@]+"${missing[@]}"}
[[ -x $PUSHGATEWAY_BIN ]] || PUSHGATEWAY_BIN=$(command -v prometheus-pushgateway)

build_outrider

# --- processes and cleanup -------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrider-push.XXXXXX")
SHM_DIR=
declare -A PID=() URL=() LABEL=()
LABEL=([outrider]=outrider [pg_fill]="Pushgateway (fill)" [pg]=Pushgateway
    [outrider_shm]="outrider (storage on /dev/shm)")
FAILED=0

# Run by cleanup (lib.sh) after it has stopped the servers by PID.
cleanup_extra() {
    if [[ -n $SHM_DIR ]]; then rm -rf -- "$SHM_DIR"; fi
}
set_cleanup_traps   # stops what this script started, by PID, on every exit path

# stop NAME [GRACE]: TERM, up to GRACE s (default 30: outrider compacts its
# log and the Pushgateway writes its persistence file on the way out), then
# KILL; forgets the PID so cleanup does not signal it again.
stop() {
    local name=$1 grace=${2:-30} pid i
    pid=${PID[$name]:-}
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < grace * 10; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "WARNING: ${LABEL[$name]} did not stop within ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}

# A fresh token for this run; outrider refuses tokens under 16 characters.
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
AUTH="Authorization: Bearer $TOKEN"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "loadavg before: $LOAD_BEFORE ($(nproc) CPUs)"
BENCH_START=$SECONDS

# --- bodies, configs and wrk scripts ----------------------------------------------

HALF=$(( SAMPLES_PER_PUSH / 2 ))
# One group's body in the text format: a gauge and a counter family.
{
    echo '# HELP bench_gauge A pushed gauge.'
    echo '# TYPE bench_gauge gauge'
    for (( i = 0; i < HALF; i++ )); do echo "bench_gauge{series=\"$i\",kind=\"g\"} $i.5"; done
    echo '# HELP bench_requests_total A pushed counter.'
    echo '# TYPE bench_requests_total counter'
    for (( i = 0; i < HALF; i++ )); do echo "bench_requests_total{series=\"$i\",code=\"200\"} $(( i * 1000 ))"; done
} >"$TMP/pg_body.txt"
# Series of the bench families on a /metrics page (not the programs' own
# metrics, not push_time_seconds / push_failure_time_seconds).
SERIES_RE='^bench_(gauge|requests_total)[{ ]'

# JSON batches, one line per service: JSON_BATCH counter updates each.
for (( s = 0; s < JSON_SERVICES; s++ )); do
    printf '{"service":"bench-json-%d","metrics":[' "$s"
    for (( i = 0; i < JSON_BATCH; i++ )); do
        (( i == 0 )) || printf ','
        printf '{"name":"bench_json_requests_total","type":"counter","value":1,"labels":{"series":"%d","code":"200"}}' "$i"
    done
    printf ']}\n'
done >"$TMP/json_bodies.txt"

# The same group in the delimited protobuf format (one body for every group:
# the path names the group), and one OTLP request per group (the group is in
# the resource), written back to back to otlp_bodies.bin with their lengths
# in otlp_bodies.idx. Hand-encoded: the Python client library cannot write
# protobuf any more and no protobuf package is needed.
python3 - "$TMP" "$HALF" "$GROUP_COUNT" <<'PYTHON' || die "could not encode the protobuf and OTLP bodies"
import struct, sys, time

tmp, half, groups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def msg(number, payload):     # length-delimited field (wire type 2)
    return varint(number << 3 | 2) + varint(len(payload)) + payload

def text(number, value):
    return msg(number, value.encode())

def double(number, value):    # wire type 1
    return varint(number << 3 | 1) + struct.pack("<d", value)

def fixed64(number, value):
    return varint(number << 3 | 1) + struct.pack("<Q", value)

def uint(number, value):      # wire type 0
    return varint(number << 3) + varint(value)

# io.prometheus.client.MetricFamily: name 1, help 2, type 3 (COUNTER 0,
# GAUGE 1), metric 4; Metric: label 1 (LabelPair: name 1, value 2), gauge 2,
# counter 3 (each: value 1).
def family(name, help_, kind, metrics):
    return text(1, name) + text(2, help_) + uint(3, kind) + b"".join(msg(4, m) for m in metrics)

def label(name, value):
    return msg(1, text(1, name) + text(2, value))

gauge = family("bench_gauge", "A pushed gauge.", 1,
               [label("series", str(i)) + label("kind", "g") + msg(2, double(1, i + 0.5)) for i in range(half)])
counter = family("bench_requests_total", "A pushed counter.", 0,
                 [label("series", str(i)) + label("code", "200") + msg(3, double(1, float(i * 1000))) for i in range(half)])
with open(f"{tmp}/pg_body.pb", "wb") as f:
    f.write(varint(len(gauge)) + gauge + varint(len(counter)) + counter)

# opentelemetry.proto: ExportMetricsServiceRequest.resource_metrics 1;
# ResourceMetrics: resource 1, scope_metrics 2; Resource.attributes 1;
# KeyValue: key 1, value 2 (AnyValue.string_value 1); ScopeMetrics: scope 1
# (name 1, version 2), metrics 2; Metric: name 1, description 2, unit 3,
# gauge 5, sum 7; Gauge.data_points 1; Sum: data_points 1,
# aggregation_temporality 2 (CUMULATIVE = 2), is_monotonic 3;
# NumberDataPoint: start_time_unix_nano 2, time_unix_nano 3, as_double 4,
# attributes 7.
def attribute(key, value):
    return text(1, key) + msg(2, text(1, value))

now = time.time_ns()
start = now - 3_600_000_000_000
def point(attrs, value):
    return (b"".join(msg(7, attribute(k, v)) for k, v in attrs)
            + fixed64(2, start) + fixed64(3, now) + double(4, value))

gauge_points = b"".join(msg(1, point([("series", str(i)), ("kind", "g")], i + 0.5)) for i in range(half))
sum_points = b"".join(msg(1, point([("series", str(i)), ("code", "200")], float(i * 1000))) for i in range(half))
metrics = (msg(2, text(1, "bench_gauge") + text(2, "A pushed gauge.") + msg(5, gauge_points))
           + msg(2, text(1, "bench_requests") + text(2, "A pushed counter.")
                 + msg(7, sum_points + uint(2, 2) + uint(3, 1))))
scope = msg(2, msg(1, text(1, "bench") + text(2, "1.0")) + metrics)
with open(f"{tmp}/otlp_bodies.bin", "wb") as blob, open(f"{tmp}/otlp_bodies.idx", "w") as idx:
    for g in range(groups):
        resource = msg(1, msg(1, attribute("service.name", "bench"))
                       + msg(1, attribute("service.instance.id", str(g))))
        body = msg(1, resource + scope)
        blob.write(body)
        idx.write(f"{len(body)}\n")
PYTHON

# wrk: one Lua state per thread; thread k starts at item k * n / threads and
# goes round-robin from there.
# gateway_lua OUT BODY_FILE CONTENT_TYPE: a wrk script that sends BODY_FILE
# to one group per request.
gateway_lua() {
    cat >"$1" <<EOF
-- Pushgateway API: ${PG_METHOD} one group's body per request, groups round-robin.
local groups = ${GROUP_COUNT}
local f = assert(io.open("$2", "rb"))
local body = f:read("*a")
f:close()
wrk.method = "${PG_METHOD}"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["Content-Type"] = "$3"
local threads = 0
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end
local n = 0
function init(args)
  n = math.floor((first or 0) * groups / ${WRK_THREADS})
end
function request()
  local path = "/metrics/job/bench/instance/" .. n
  n = (n + 1) % groups
  return wrk.format(nil, path, nil, body)
end
EOF
}
PB_TYPE='application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'
gateway_lua "$TMP/pg.lua" "$TMP/pg_body.txt" "text/plain; version=0.0.4"
gateway_lua "$TMP/pb.lua" "$TMP/pg_body.pb" "$PB_TYPE"
# The request loop of the scripts whose requests are whole bodies in
# `bodies`: thread k starts at body k * n / threads.
BODIES_ROUND_ROBIN="local threads = 0
function setup(thread)
  thread:set(\"first\", threads)
  threads = threads + 1
end
local n = 0
function init(args)
  n = math.floor((first or 0) * #bodies / ${WRK_THREADS})
end
function request()
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end"
cat >"$TMP/otlp.lua" <<EOF
-- OTLP/HTTP: one group's ExportMetricsServiceRequest per request, groups round-robin.
local f = assert(io.open("${TMP}/otlp_bodies.bin", "rb"))
local blob = f:read("*a")
f:close()
local bodies = {}
local at = 1
for line in io.lines("${TMP}/otlp_bodies.idx") do
  local len = tonumber(line)
  bodies[#bodies + 1] = blob:sub(at, at + len - 1)
  at = at + len
end
wrk.method = "POST"
wrk.path = "/v1/metrics"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["Content-Type"] = "application/x-protobuf"
${BODIES_ROUND_ROBIN}
EOF
cat >"$TMP/json.lua" <<EOF
-- JSON push: one batch per request, services round-robin.
local bodies = {}
for line in io.lines("${TMP}/json_bodies.txt") do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.path = "/api/v1/metrics/push"
wrk.headers["Authorization"] = "Bearer ${TOKEN}"
wrk.headers["Content-Type"] = "application/json"
${BODIES_ROUND_ROBIN}
EOF

# outrider: the host collectors off, so /metrics and the tick are the
# pushed series (plus the default rules, which find nothing to match).
MAX_SERIES=$(( SERIES_EXPECTED + JSON_SERVICES * JSON_BATCH + 10000 ))
(( MAX_SERIES >= 200000 )) || MAX_SERIES=200000
MAX_PER_GROUP=$(( SAMPLES_PER_PUSH > 10000 ? SAMPLES_PER_PUSH : 10000 ))
cat >"$TMP/outrider.yml" <<EOF
collect_interval: ${COLLECT_INTERVAL}s
collectors:
  containers: {enabled: false}
  cpu: {enabled: false}
  diskstats: {enabled: false}
  filesystem: {enabled: false}
  loadavg: {enabled: false}
  meminfo: {enabled: false}
  netclass: {enabled: false}
  netdev: {enabled: false}
  processes: {enabled: false}
  self: {enabled: false}
  stat: {enabled: false}
  time: {enabled: false}
  uname: {enabled: false}
baselines: {track: []}
web:
  limits:
    # The load is the point here: no rate limit on pushes.
    write: {rate: 0}
    max_push_series_per_group: ${MAX_PER_GROUP}
    max_push_series_total: ${MAX_SERIES}
EOF
OUTRIDER_PUSH_TOKEN=$TOKEN "$OUTRIDER_BIN" check "$TMP/outrider.yml" >"$TMP/check.log" 2>&1 ||
    { cat "$TMP/check.log" >&2; die "outrider check refused the config"; }

# --- helpers ------------------------------------------------------------------------

read -r P_OUT P_PG_FILL P_PG P_SHM <<<"$(free_ports 4)" || die "could not find free ports"
[[ -n ${P_SHM:-} ]] || die "could not find free ports"
declare -A BASE=([outrider]="http://127.0.0.1:$P_OUT" [pg_fill]="http://127.0.0.1:$P_PG_FILL"
    [pg]="http://127.0.0.1:$P_PG" [outrider_shm]="http://127.0.0.1:$P_SHM")

# start_outrider NAME STORAGE_DIR: the token goes to outrider alone.
start_outrider() {
    local name=$1 port=${BASE[$1]##*:}
    start "$name" "$port" env OUTRIDER_PUSH_TOKEN="$TOKEN" "$OUTRIDER_BIN" \
        --config.file "$TMP/outrider.yml" --web.listen-address "127.0.0.1:$port" \
        --storage.path "$2"
    wait_ready "$name"
}

# series NAME: bench series on NAME's /metrics (0 when the scrape fails).
series() {
    curl -fsS --max-time 30 "${URL[$1]}" 2>/dev/null | grep -cE "$SERIES_RE" || true
}

# wait_series NAME: poll until NAME exposes SERIES_EXPECTED bench series (at
# most SERIES_TIMEOUT s); prints the last count.
wait_series() {
    local name=$1 n=0 deadline=$(( SECONDS + SERIES_TIMEOUT ))
    while (( SECONDS < deadline )); do
        n=$(series "$name")
        (( n == SERIES_EXPECTED )) && break
        sleep 1
    done
    echo "$n"
}

# fill NAME: one push of every group, in order, by one curl (one connection,
# so it is not a throughput test). Fails unless every answer is a 2xx.
fill() {
    local name=$1 codes ok
    codes=$(timeout -k 5 "$FILL_TIMEOUT" curl -sS --max-time 60 -X "$PG_METHOD" -H "$AUTH" \
        -H 'Content-Type: text/plain; version=0.0.4' --data-binary "@$TMP/pg_body.txt" \
        -w '\nCODE %{http_code}\n' "${BASE[$name]}/metrics/job/bench/instance/[0-$(( GROUP_COUNT - 1 ))]" \
        2>>"$TMP/$name.fill.err" | grep '^CODE ' || true)
    ok=$(grep -c '^CODE 2' <<<"$codes" || true)
    if (( ok != GROUP_COUNT )); then
        log "fill of ${LABEL[$name]}: $ok/$GROUP_COUNT pushes accepted; answers: $(sort <<<"$codes" | uniq -c | paste -sd ' ' -)"
        head -c 600 "$TMP/$name.fill.err" >&2 || true
        die "could not fill ${LABEL[$name]}"
    fi
}

# wrk_run NAME LUA CONNECTIONS SECONDS PATH TAG SAMPLES: run wrk against NAME
# (bounded by timeout), measuring NAME's CPU ticks; parses the result into
# R_REQS[TAG] R_SECS R_PUSHES R_SAMPLES R_P99 R_BAD R_ERRS R_CPU R_PER_CPU,
# counting SAMPLES samples per 2xx answer.
declare -A R_REQS=() R_SECS=() R_PUSHES=() R_SAMPLES=() R_P99=() R_BAD=() R_CPU=() R_PER_CPU=() R_ERRS=()
wrk_run() {
    local name=$1 lua=$2 conns=$3 secs=$4 path=$5 tag=$6 samples=$7 out t0 t1 threads
    threads=$(( WRK_THREADS < conns ? WRK_THREADS : conns ))
    out=$TMP/$tag.wrk
    log "load: ${LABEL[$name]} ($tag), wrk -t$threads -c$conns -d${secs}s"
    t0=$(cpu_ticks "${PID[$name]}")
    timeout -k 5 $(( secs + 60 )) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 30s --latency \
        -s "$lua" "${BASE[$name]}$path" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed against ${LABEL[$name]}"; }
    t1=$(cpu_ticks "${PID[$name]}")
    kill -0 "${PID[$name]}" 2>/dev/null || die "${LABEL[$name]} died during the load"
    R_REQS[$tag]=$(awk '/ requests in / { print $1 }' "$out")
    # wrk prints the run time as 20.00s or 1.00m, latencies as 812.00us,
    # 1.23ms, 1.05s or 1.00m.
    R_SECS[$tag]=$(awk '/ requests in / { t = $4; sub(/,$/, "", t); v = t + 0
        if (t ~ /ms$/) v /= 1000; else if (t ~ /us$/) v /= 1e6; else if (t ~ /m$/) v *= 60
        printf "%.3f", v }' "$out")
    R_P99[$tag]=$(awk '$1 == "99%" {
        v = $2
        if (v ~ /us$/) v = v * 0.001; else if (v ~ /ms$/) v = v + 0
        else if (v ~ /s$/) v = v * 1000; else if (v ~ /m$/) v = v * 60000
        printf "%.2f", v }' "$out")
    R_BAD[$tag]=$(awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$out")
    R_ERRS[$tag]=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")
    [[ -n ${R_REQS[$tag]} && -n ${R_SECS[$tag]} && -n ${R_P99[$tag]} ]] ||
        { cat "$out" >&2; die "could not parse wrk output"; }
    (( R_REQS[$tag] > 0 )) || die "no request completed against ${LABEL[$name]}"
    R_CPU[$tag]=$(calc "($t1 - $t0) / $CLK_TCK")
    R_PUSHES[$tag]=$(calc "(${R_REQS[$tag]} - ${R_BAD[$tag]}) / ${R_SECS[$tag]}")
    R_SAMPLES[$tag]=$(calc "${R_PUSHES[$tag]} * $samples")
    R_PER_CPU[$tag]=$(awk -v s="${R_SAMPLES[$tag]}" -v t="${R_SECS[$tag]}" -v c="${R_CPU[$tag]}" \
        'BEGIN { if (c > 0) printf "%.0f", s * t / c; else print "n/a" }')
    if (( R_BAD[$tag] > 0 )) || [[ -n ${R_ERRS[$tag]} ]]; then
        log "WARNING: ${LABEL[$name]} ($tag): ${R_BAD[$tag]} non-2xx answers${R_ERRS[$tag]:+; socket errors: ${R_ERRS[$tag]}}"
        FAILED=1
    fi
    log "  $(printf '%s: %s requests in %ss, %.1f pushes/s, %.0f samples/s, p99 %s ms, CPU %.2f s' "$tag" \
        "${R_REQS[$tag]}" "${R_SECS[$tag]}" "${R_PUSHES[$tag]}" "${R_SAMPLES[$tag]}" "${R_P99[$tag]}" "${R_CPU[$tag]}")"
}

# still_held NAME WHAT: after a load that rewrote the same groups, NAME must
# still expose exactly SERIES_EXPECTED bench series (no series added by
# another format's naming, none lost).
still_held() {
    local n
    n=$(series "$1")
    if (( n != SERIES_EXPECTED )); then
        log "WARNING: ${LABEL[$1]} exposes $n bench series after the $2 load, expected $SERIES_EXPECTED"
        FAILED=1
    fi
}

# mib KIB: MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

declare -A IDLE_KIB=() FILLED_KIB=() RSS_KIB=() SERIES=() PER_SERIES=()
# memory NAME IDLE_FROM: count the series NAME exposes and read its VmRSS;
# the idle VmRSS is IDLE_FROM's.
memory() {
    local name=$1 idle_from=$2 n
    n=$(wait_series "$name")
    SERIES[$name]=$n
    if (( n != SERIES_EXPECTED )); then
        log "WARNING: ${LABEL[$name]} exposes $n bench series, expected $SERIES_EXPECTED"
        FAILED=1
    fi
    RSS_KIB[$name]=$(status_kib "${PID[$name]}" VmRSS)
    PER_SERIES[$name]=$(awk -v r="${RSS_KIB[$name]}" -v i="${IDLE_KIB[$idle_from]}" -v n="$n" \
        'BEGIN { if (n > 0) printf "%.0f", (r - i) * 1024 / n; else print "n/a" }')
    log "  ${LABEL[$name]}: $n series, VmRSS $(mib "${RSS_KIB[$name]}") MiB (idle $(mib "${IDLE_KIB[$idle_from]}") MiB), ${PER_SERIES[$name]} B/series"
}

OUT_VERSION=$("$OUTRIDER_BIN" --version 2>&1 | head -n 1)
PG_VERSION=$("$PUSHGATEWAY_BIN" --version 2>&1 | awk 'NR == 1 { sub(/,$/, "", $1); print $1, $3 }')
STORAGE_FS=$(df -P "$TMP" | awk 'NR == 2 { print $1 }')
log "running: $OUT_VERSION, $PG_VERSION; $(nproc) CPUs; CLK_TCK=$CLK_TCK; storage on $STORAGE_FS"

# --- outrider ------------------------------------------------------------------------

mkdir -p "$TMP/storage"
start_outrider outrider "$TMP/storage"
IDLE_KIB[outrider]=$(status_kib "${PID[outrider]}" VmRSS)
log "outrider: filling $GROUP_COUNT groups x $SAMPLES_PER_PUSH samples"
fill outrider
n=$(wait_series outrider)
(( n == SERIES_EXPECTED )) || die "outrider exposes $n bench series after the fill, expected $SERIES_EXPECTED"
FILLED_KIB[outrider]=$(status_kib "${PID[outrider]}" VmRSS)
wrk_run outrider "$TMP/pg.lua" "$WRK_CONNECTIONS" "$LOAD_SECONDS" /metrics/job/bench out_pg "$SAMPLES_PER_PUSH"
memory outrider outrider
wrk_run outrider "$TMP/pb.lua" "$WRK_CONNECTIONS" "$LOAD_SECONDS" /metrics/job/bench out_pb "$SAMPLES_PER_PUSH"
still_held outrider protobuf
wrk_run outrider "$TMP/otlp.lua" "$WRK_CONNECTIONS" "$LOAD_SECONDS" /v1/metrics out_otlp "$SAMPLES_PER_PUSH"
still_held outrider OTLP
wrk_run outrider "$TMP/json.lua" 1 "$JSON_SECONDS" /api/v1/metrics/push out_json1 "$JSON_BATCH"
wrk_run outrider "$TMP/json.lua" "$WRK_CONNECTIONS" "$JSON_SECONDS" /api/v1/metrics/push out_jsonN "$JSON_BATCH"
HWM_OUT=$(status_kib "${PID[outrider]}" VmHWM)
LOG_BYTES=$(du -sb "$TMP/storage" | awk '{ print $1 }')
stop outrider

# --- Pushgateway ------------------------------------------------------------------------

# The filling instance: no consistency check, so GROUP_COUNT pushes take seconds.
start pg_fill "$P_PG_FILL" "$PUSHGATEWAY_BIN" --web.listen-address="127.0.0.1:$P_PG_FILL" \
    --push.disable-consistency-check --persistence.file="$TMP/pg.data" --persistence.interval=1h
wait_ready pg_fill
IDLE_KIB[pg_fill]=$(status_kib "${PID[pg_fill]}" VmRSS)
log "Pushgateway: filling $GROUP_COUNT groups x $SAMPLES_PER_PUSH samples (consistency check off, then persisted)"
fill pg_fill
n=$(wait_series pg_fill)
(( n == SERIES_EXPECTED )) || die "the filling Pushgateway exposes $n bench series, expected $SERIES_EXPECTED"
stop pg_fill
[[ -s $TMP/pg.data ]] || die "the filling Pushgateway wrote no persistence file"

# The measured instance: default flags, starting from that file.
start pg "$P_PG" "$PUSHGATEWAY_BIN" --web.listen-address="127.0.0.1:$P_PG" \
    --persistence.file="$TMP/pg.data" --persistence.interval=1h
# Ready once the file is loaded; its /metrics can take longer than
# wait_ready's 2 s per try with SERIES_EXPECTED series.
URL[pg]=${BASE[pg]}/-/ready
wait_ready pg
URL[pg]=${BASE[pg]}/metrics
n=$(wait_series pg)
(( n == SERIES_EXPECTED )) || die "the Pushgateway exposes $n bench series after loading, expected $SERIES_EXPECTED"
FILLED_KIB[pg]=$(status_kib "${PID[pg]}" VmRSS)
wrk_run pg "$TMP/pg.lua" "$WRK_CONNECTIONS" "$LOAD_SECONDS" /metrics/job/bench pg_pg "$SAMPLES_PER_PUSH"
memory pg pg_fill
wrk_run pg "$TMP/pb.lua" "$WRK_CONNECTIONS" "$LOAD_SECONDS" /metrics/job/bench pg_pb "$SAMPLES_PER_PUSH"
still_held pg protobuf
HWM_PG=$(status_kib "${PID[pg]}" VmHWM)
stop pg

# --- outrider, storage on /dev/shm (reference) ---------------------------------------------

if (( SHM_RUN )) && [[ -d /dev/shm && -w /dev/shm ]]; then
    SHM_DIR=$(mktemp -d /dev/shm/outrider-push.XXXXXX)
    start_outrider outrider_shm "$SHM_DIR"
    IDLE_KIB[outrider_shm]=$(status_kib "${PID[outrider_shm]}" VmRSS)
    fill outrider_shm
    n=$(wait_series outrider_shm)
    (( n == SERIES_EXPECTED )) || die "outrider (/dev/shm) exposes $n bench series, expected $SERIES_EXPECTED"
    FILLED_KIB[outrider_shm]=$(status_kib "${PID[outrider_shm]}" VmRSS)
    wrk_run outrider_shm "$TMP/pg.lua" "$WRK_CONNECTIONS" "$SHM_LOAD_SECONDS" /metrics/job/bench shm_pg "$SAMPLES_PER_PUSH"
    memory outrider_shm outrider_shm
    wrk_run outrider_shm "$TMP/json.lua" 1 "$JSON_SECONDS" /api/v1/metrics/push shm_json1 "$JSON_BATCH"
    wrk_run outrider_shm "$TMP/json.lua" "$WRK_CONNECTIONS" "$JSON_SECONDS" /api/v1/metrics/push shm_jsonN "$JSON_BATCH"
    stop outrider_shm
    rm -rf -- "$SHM_DIR"
    SHM_DIR=
else
    SHM_RUN=0
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "loadavg after: $LOAD_AFTER; the phases after the build took $(( SECONDS - BENCH_START ))s"

# --- report ------------------------------------------------------------------------------

# pg_row TAG NAME IDLE_FROM: the cells of a Pushgateway-API row.
pg_row() {
    local t=$1 n=$2 i=$3
    printf '%.1f|%.0f|%s|%s|%.2f|%s|%s|%s|%s|%s\n' "${R_PUSHES[$t]}" "${R_SAMPLES[$t]}" "${R_P99[$t]}" \
        "${R_BAD[$t]}" "${R_CPU[$t]}" "${R_PER_CPU[$t]}" "${SERIES[$n]}" "$(mib "${IDLE_KIB[$i]}")" \
        "$(mib "${RSS_KIB[$n]}")" "${PER_SERIES[$n]}"
}
ratio_row() {
    local c out=()
    for c in "${R_PUSHES[out_pg]} ${R_PUSHES[pg_pg]}" "${R_SAMPLES[out_pg]} ${R_SAMPLES[pg_pg]}" \
        "${R_P99[out_pg]} ${R_P99[pg_pg]}" "" "${R_CPU[out_pg]} ${R_CPU[pg_pg]}" \
        "${R_PER_CPU[out_pg]} ${R_PER_CPU[pg_pg]}" "${SERIES[outrider]} ${SERIES[pg]}" \
        "${IDLE_KIB[outrider]} ${IDLE_KIB[pg_fill]}" "${RSS_KIB[outrider]} ${RSS_KIB[pg]}" \
        "${PER_SERIES[outrider]} ${PER_SERIES[pg]}"; do
        # shellcheck disable=SC2086 # two numbers, split on purpose
        if [[ -z $c ]]; then out+=(""); else out+=("$(ratio $c)x"); fi
    done
    (IFS='|'; echo "${out[*]}")
}
json_row() {
    local t=$1
    printf '%.1f|%.0f|%s|%s|%.2f|%s\n' "${R_PUSHES[$t]}" "${R_SAMPLES[$t]}" "${R_P99[$t]}" \
        "${R_BAD[$t]}" "${R_CPU[$t]}" "${R_PER_CPU[$t]}"
}

SETUP="$(nproc) CPUs, $OUT_VERSION vs $PG_VERSION; $GROUP_COUNT groups x $SAMPLES_PER_PUSH series ($SERIES_EXPECTED); wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${LOAD_SECONDS}s, $PG_METHOD of $SAMPLES_PER_PUSH samples per request, groups round-robin, one program at a time; outrider storage on $STORAGE_FS (fdatasync before every 200), collect_interval ${COLLECT_INTERVAL}s, host collectors off; Pushgateway in memory, consistency check on; loadavg $LOAD_BEFORE before, $LOAD_AFTER after"

COLS=("pushes/s" "samples/s" "p99 ms" "non-2xx" "CPU s" "samples/CPU s" "series" "idle RSS MiB" "RSS MiB" "bytes/series")
ROW_NAMES=("outrider" "Pushgateway" "ratio outrider/Pushgateway")
ROWS=("$(pg_row out_pg outrider outrider)" "$(pg_row pg_pg pg pg_fill)" "$(ratio_row)")
if (( SHM_RUN )); then
    ROW_NAMES+=("reference: outrider, storage on /dev/shm (no disk sync), ${SHM_LOAD_SECONDS}s")
    ROWS+=("$(pg_row shm_pg outrider_shm outrider_shm)")
fi

echo
echo "Pushgateway API: outrider vs the Pushgateway ($SETUP)"
echo
markdown_table
echo
echo "(samples/s = 2xx answers/s x $SAMPLES_PER_PUSH; CPU = the server's utime+stime from /proc/PID/stat during the load,"
echo " resolution 1/$CLK_TCK s; samples/CPU s = samples accepted per CPU second of the server; series = bench series"
echo " on /metrics after the load; RSS = VmRSS then; bytes/series = (RSS - idle RSS) / series; the Pushgateway's idle"
echo " RSS is the filling instance's, right after start; peak RSS: outrider $(mib "$HWM_OUT") MiB (whole run"
echo " incl. JSON), Pushgateway $(mib "$HWM_PG") MiB; RSS before the load, holding the series: outrider"
echo " $(mib "${FILLED_KIB[outrider]}") MiB, Pushgateway $(mib "${FILLED_KIB[pg]}") MiB; outrider's storage directory at the end: $LOG_BYTES bytes)"

# format_row OUT_TAG PG_TAG: samples/s, p99 and samples per CPU second of
# both, and the ratio of samples/s.
format_row() {
    printf '%.0f|%.0f|%sx|%s|%s|%s|%s|%s/%s\n' "${R_SAMPLES[$1]}" "${R_SAMPLES[$2]}" \
        "$(ratio "${R_SAMPLES[$1]}" "${R_SAMPLES[$2]}")" "${R_P99[$1]}" "${R_P99[$2]}" \
        "${R_PER_CPU[$1]}" "${R_PER_CPU[$2]}" "${R_BAD[$1]}" "${R_BAD[$2]}"
}
# The Pushgateway's best format, for OTLP, which it does not take.
PG_BEST=pg_pg PG_BEST_NAME=text
if awk -v a="${R_SAMPLES[pg_pb]}" -v b="${R_SAMPLES[pg_pg]}" 'BEGIN { exit !(a > b) }'; then
    PG_BEST=pg_pb PG_BEST_NAME=protobuf
fi
COLS=("outrider samples/s" "Pushgateway samples/s" "ratio" "outrider p99 ms" "Pushgateway p99 ms"
    "outrider samples/CPU s" "Pushgateway samples/CPU s" "non-2xx outrider/Pushgateway")
ROW_NAMES=("text (PUT /metrics/job/...)" "delimited protobuf (PUT /metrics/job/...)"
    "OTLP/HTTP protobuf (POST /v1/metrics); Pushgateway: no OTLP, its best format ($PG_BEST_NAME)")
ROWS=("$(format_row out_pg pg_pg)" "$(format_row out_pb pg_pb)" "$(format_row out_otlp "$PG_BEST")")
echo
echo "Per format, same groups and series, wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${LOAD_SECONDS}s each ($SAMPLES_PER_PUSH samples per request; the"
echo "protobuf and OTLP loads after the memory reading above; the Pushgateway has no OTLP endpoint, so outrider's OTLP is set"
echo "against the Pushgateway's best format of this run)"
echo
markdown_table

COLS=("pushes/s" "samples/s" "p99 ms" "non-2xx" "CPU s" "samples/CPU s")
ROW_NAMES=("outrider JSON, 1 connection" "outrider JSON, $WRK_CONNECTIONS connections")
ROWS=("$(json_row out_json1)" "$(json_row out_jsonN)")
if (( SHM_RUN )); then
    ROW_NAMES+=("reference: outrider JSON, 1 connection, storage on /dev/shm"
        "reference: outrider JSON, $WRK_CONNECTIONS connections, storage on /dev/shm")
    ROWS+=("$(json_row shm_json1)" "$(json_row shm_jsonN)")
fi
echo
echo "JSON push, outrider alone ($JSON_BATCH counter updates per batch, $JSON_SERVICES services round-robin, ${JSON_SECONDS}s each, on top of the $SERIES_EXPECTED series above)"
echo
markdown_table

echo
echo "targets:"
check_target "text samples/s" "$(ratio "${R_SAMPLES[out_pg]}" "${R_SAMPLES[pg_pg]}")" ">=" 10
check_target "protobuf samples/s" "$(ratio "${R_SAMPLES[out_pb]}" "${R_SAMPLES[pg_pb]}")" ">=" 10
check_target "OTLP samples/s" "$(ratio "${R_SAMPLES[out_otlp]}" "${R_SAMPLES[$PG_BEST]}")" ">=" 10
check_target "resident MiB" "$(ratio "${RSS_KIB[outrider]}" "${RSS_KIB[pg]}")" "<=" 0.5
check_target "bytes/series" "$(ratio "${PER_SERIES[outrider]}" "${PER_SERIES[pg]}")" "<=" 0.5
check_target "JSON 1c /CPU s" "$(ratio "${R_PER_CPU[out_json1]}" 100000)" ">=" 1
check_target "JSON ${WRK_CONNECTIONS}c /CPU s" "$(ratio "${R_PER_CPU[out_jsonN]}" 100000)" ">=" 1
echo "(OTLP: outrider's OTLP against the Pushgateway's $PG_BEST_NAME, its best format here; it has no OTLP)"
echo "(JSON: samples per CPU second of outrider over 100k, i.e. >= 100k samples/s on one core)"

(( FAILED == 0 )) || { log "some phases reported errors (see warnings above)"; exit 1; }
