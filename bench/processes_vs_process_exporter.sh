#!/usr/bin/env bash
# bench/processes_vs_process_exporter.sh: outrider's `processes` collector and
# process-exporter side by side, in one run, on the same grouping config.
#
# Both group every process that has a command line by its comm
# (process_names: [{name: "{{.Comm}}", cmdline: ['.+']}], children on) on a
# host with at least MIN_PROCS processes (`sleep` children are added to get
# there). outrider runs with every other collector disabled; process-exporter
# runs with -gather-smaps=false -threads=false (outrider never reads smaps and
# has no per-thread series).
#
# outrider collects once per collect_interval (1 s here) whatever the scrapes;
# process-exporter collects once per scrape. Over DURATION seconds each is
# scraped once per second (Prometheus' Accept headers, gzip), so both collect
# about once per second. Reported for each:
#   1. collections in the window (outrider: elapsed s / 1 s; process-exporter:
#      scrapes answered),
#   2. CPU seconds (utime+stime from /proc/PID/stat) in the window, per
#      collection and per minute,
#   3. VmRSS at the end of the window and VmHWM (peak),
#   4. groups and namedprocess_namegroup_* series each exposes (should be
#      close), and the mean scrape latency,
# plus outrider's outrider_collector_duration_seconds{collector="processes"}
# as a cross-check of its per-collection cost.
#
# Usage:  bench/processes_vs_process_exporter.sh   (root only to install tools)
# Env:    DURATION=60 WARMUP_SECONDS=5 MIN_PROCS=300
#         OUTRIDER_BIN=path          (default: the build of
#                                     scripts/build-release.sh)
#         PROCESS_EXPORTER_BIN=path  (default: /usr/bin/prometheus-process-exporter)
# Exit:   0 when both ran and answered every scrape (the targets are
#         informational), 1 when something failed to start or returned errors.

set -euo pipefail

DURATION=${DURATION:-60}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
MIN_PROCS=${MIN_PROCS:-300}
PROCESS_EXPORTER_BIN=${PROCESS_EXPORTER_BIN:-/usr/bin/prometheus-process-exporter}
INTERVAL=1           # outrider's collect_interval and the scrape cadence, s
MAX_SPAWN=5000       # never start more sleepers than this

# What Prometheus 2.x/3.x sends when scraping; both programs negotiate on it.
ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_whole DURATION WARMUP_SECONDS MIN_PROCS
(( DURATION > 0 )) || die "DURATION must be > 0"

# --- tools -----------------------------------------------------------------

missing=()
command -v curl >/dev/null || missing+=(curl)
[[ -x $PROCESS_EXPORTER_BIN ]] || command -v prometheus-process-exporter >/dev/null ||
    missing+=(prometheus-process-exporter)
install_missing ${missing[@]+"${missing[@]}"}
[[ -x $PROCESS_EXPORTER_BIN ]] || PROCESS_EXPORTER_BIN=$(command -v prometheus-process-exporter)

build_outrider

# --- processes and cleanup -------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrider-processes.XXXXXX")
declare -A PID=() URL=() LABEL=()
NAMES=(outrider pe)
LABEL=([outrider]=outrider [pe]=process-exporter)
SLEEPERS=()
FAILED=0

# Run by cleanup (lib.sh) after it has stopped the servers by PID: stop the
# sleepers with TERM (sleep dies on it).
cleanup_extra() {
    local pid
    if (( ${#SLEEPERS[@]} )); then
        log "stopping ${#SLEEPERS[@]} sleep children"
        for pid in "${SLEEPERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in "${SLEEPERS[@]}"; do wait "$pid" 2>/dev/null || true; done
    fi
}
set_cleanup_traps   # stops what this script started, by PID, on every exit path

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# Processes (not threads) on the host.
count_procs() { find /proc -mindepth 1 -maxdepth 1 -name '[0-9]*' | wc -l; }

# --- enough processes ----------------------------------------------------------

PROCS_BEFORE=$(count_procs)
need=$(( MIN_PROCS - PROCS_BEFORE ))
if (( need > 0 )); then
    (( need <= MAX_SPAWN )) || die "would need $need extra processes (more than $MAX_SPAWN)"
    # Outlive the run (plus margin); if this script is SIGKILLed they still end.
    life=$(( WARMUP_SECONDS + DURATION + 300 ))
    log "host has $PROCS_BEFORE processes; starting $need 'sleep $life' children to reach $MIN_PROCS"
    deadline=$(( SECONDS + 60 ))
    for (( i = 0; i < need && SECONDS < deadline; i++ )); do
        sleep "$life" >/dev/null 2>&1 &
        SLEEPERS+=($!)
    done
    (( ${#SLEEPERS[@]} == need )) || die "started only ${#SLEEPERS[@]}/$need sleepers in 60 s"
fi
PROCS=$(count_procs)
log "host now has $PROCS processes (${#SLEEPERS[@]} sleep children added)"
(( PROCS >= MIN_PROCS )) || die "only $PROCS processes, wanted $MIN_PROCS"

# --- configs -------------------------------------------------------------------

# The same grouping for both: every process with a command line, by comm.
cat >"$TMP/process-exporter.yml" <<'EOF'
process_names: [{name: "{{.Comm}}", cmdline: ['.+']}]
EOF

# outrider: only the processes collector, whose defaults are that grouping
# (written out so the two files visibly agree).
cat >"$TMP/outrider.yml" <<EOF
collect_interval: ${INTERVAL}s
collectors:
  containers: {enabled: false}
  cpu: {enabled: false}
  diskstats: {enabled: false}
  filesystem: {enabled: false}
  loadavg: {enabled: false}
  meminfo: {enabled: false}
  netclass: {enabled: false}
  netdev: {enabled: false}
  self: {enabled: false}
  stat: {enabled: false}
  time: {enabled: false}
  uname: {enabled: false}
  processes:
    enabled: true
    children: true
    process_names: [{name: "{{.Comm}}", cmdline: ['.+']}]
baselines: {track: []}
EOF
"$OUTRIDER_BIN" check "$TMP/outrider.yml" >"$TMP/check.log" 2>&1 ||
    { cat "$TMP/check.log" >&2; die "outrider check refused the config"; }

# --- start both ------------------------------------------------------------------

read -r P_OUT P_PE <<<"$(free_ports 2)" || die "could not find free ports"
[[ -n ${P_PE:-} ]] || die "could not find free ports"

mkdir -p "$TMP/storage"
start outrider "$P_OUT" "$OUTRIDER_BIN" --config.file "$TMP/outrider.yml" \
    --web.listen-address "127.0.0.1:$P_OUT" --storage.path "$TMP/storage"
start pe "$P_PE" "$PROCESS_EXPORTER_BIN" -config.path "$TMP/process-exporter.yml" \
    -web.listen-address "127.0.0.1:$P_PE" -gather-smaps=false -threads=false
for name in "${NAMES[@]}"; do wait_ready "$name"; done

OUT_VERSION=$("$OUTRIDER_BIN" --version 2>&1 | head -n 1)
PE_VERSION="process-exporter $("$PROCESS_EXPORTER_BIN" -version 2>&1 |
    sed -n '1s/.*revision: \([^)]*\)).*/\1/p')"
log "running: $OUT_VERSION, $PE_VERSION; $(nproc) CPUs; CLK_TCK=$CLK_TCK; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

# scrape_round TAG I: one 1 s tick; a 1 s sleep and one scrape of each
# program run concurrently. Appends "http_code time_total" to $TMP/NAME.TAG
# and keeps outrider's body of round I. Waits only on these PIDs (a bare
# wait would wait on the servers and sleepers too).
scrape_round() {
    local tag=$1 i=$2 name body pids=()
    sleep "$INTERVAL" & pids+=($!)
    for name in "${NAMES[@]}"; do
        body=/dev/null
        [[ $name == outrider && $tag == run ]] && body=$TMP/outrider.body.$i
        curl -s -o "$body" --max-time 5 -w '%{http_code} %{time_total}\n' --compressed \
            -H "Accept: $ACCEPT" "${URL[$name]}" >>"$TMP/$name.$tag" 2>/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}" || true
}

# --- warmup ----------------------------------------------------------------------
# Both treat every process as new on their first collection; measure the
# steady state instead.

if (( WARMUP_SECONDS > 0 )); then
    log "warmup: ${WARMUP_SECONDS}s, one scrape per second to each program"
    for (( i = 0; i < WARMUP_SECONDS; i++ )); do scrape_round warmup "$i"; done
fi

# --- measured window -------------------------------------------------------------

log "measuring: ${DURATION}s, one scrape per second to each program"
declare -A CPU0=() CPU=() RSS=() HWM=() OKS=() COLL=() SCRAPE_MS=() NGROUPS=() SERIES=() PROCSUM=()
declare -A CPU_MS=() CPU_MIN=()
t0=$(now)
for name in "${NAMES[@]}"; do CPU0[$name]=$(cpu_ticks "${PID[$name]}"); done
for (( i = 0; i < DURATION; i++ )); do scrape_round run "$i"; done
for name in "${NAMES[@]}"; do
    pid=${PID[$name]}
    kill -0 "$pid" 2>/dev/null || die "${LABEL[$name]} died during the run"
    CPU[$name]=$(calc "($(cpu_ticks "$pid") - ${CPU0[$name]}) / $CLK_TCK")
done
t1=$(now)
ELAPSED=$(calc "$t1 - $t0")
for name in "${NAMES[@]}"; do
    pid=${PID[$name]}
    RSS[$name]=$(calc "$(status_kib "$pid" VmRSS) / 1024")
    HWM[$name]=$(calc "$(status_kib "$pid" VmHWM) / 1024")
    OKS[$name]=$(awk '$1 == 200' "$TMP/$name.run" | wc -l)
    if (( OKS[$name] != DURATION )); then
        log "WARNING: ${LABEL[$name]} answered ${OKS[$name]}/$DURATION scrapes with 200"
        FAILED=1
    fi
    SCRAPE_MS[$name]=$(awk '$1 == 200 { s += $2; n++ } END { printf "%.1f", n ? s / n * 1000 : 0 }' "$TMP/$name.run")
done
# outrider collects once per interval whatever the scrapes; process-exporter
# once per scrape.
COLL[outrider]=$(calc "$ELAPSED / $INTERVAL")
COLL[pe]=${OKS[pe]}
(( OKS[pe] > 0 )) || die "process-exporter answered no scrape"

# outrider's own view: the processes collector's wall time per tick, one
# value per scrape; a changed value means a new tick was seen.
for (( i = 0; i < DURATION; i++ )); do
    body_file=$TMP/outrider.body.$i
    [[ -s $body_file ]] || continue
    awk '$1 == "outrider_collector_duration_seconds{collector=\"processes\"}" { print $2 }' "$body_file"
done >"$TMP/outrider.durations"
read -r DUR_N DUR_CHANGES DUR_MEAN DUR_MAX < <(awk '
    { n++; s += $1; if ($1 > max) max = $1; if (n > 1 && $1 != prev) ch++; prev = $1 }
    END { printf "%d %d %.2f %.2f\n", n, ch, n ? s / n * 1000 : 0, max * 1000 }' "$TMP/outrider.durations")
(( DUR_N > 0 )) || { log "WARNING: no outrider_collector_duration_seconds{collector=\"processes\"} in outrider's scrapes"; FAILED=1; }

# What each exposes, in the text format (no OpenMetrics _created lines), once
# the window is over: groups, namedprocess_namegroup_* series, processes.
for name in "${NAMES[@]}"; do
    curl -fsS --max-time 5 -o "$TMP/$name.final" "${URL[$name]}" ||
        die "final scrape of ${LABEL[$name]} failed"
    NGROUPS[$name]=$(grep -c '^namedprocess_namegroup_num_procs{' "$TMP/$name.final" || true)
    SERIES[$name]=$(grep -c '^namedprocess_namegroup_' "$TMP/$name.final" || true)
    PROCSUM[$name]=$(awk '/^namedprocess_namegroup_num_procs\{/ { s += $NF } END { printf "%d", s }' "$TMP/$name.final")
    sed -n 's/^namedprocess_namegroup_num_procs{groupname="\(.*\)"} .*/\1/p' "$TMP/$name.final" |
        LC_ALL=C sort >"$TMP/$name.groups"
done
PROCS_END=$(count_procs)
log "processes on the host: $PROCS_END; in groups: outrider ${PROCSUM[outrider]}, process-exporter ${PROCSUM[pe]}"
only_out=$(LC_ALL=C comm -23 "$TMP/outrider.groups" "$TMP/pe.groups" | paste -sd ' ' -)
only_pe=$(LC_ALL=C comm -13 "$TMP/outrider.groups" "$TMP/pe.groups" | paste -sd ' ' -)
[[ -z $only_out ]] || log "groups only outrider has: $only_out"
[[ -z $only_pe ]] || log "groups only process-exporter has: $only_pe"
# process-exporter collects during the scrape, so the curl scraping it is
# alive then; outrider collects on its own tick, usually between scrapes.

# Series per family, side by side, to spot a family only one of them has.
for name in "${NAMES[@]}"; do
    sed -n 's/^\(namedprocess_namegroup_[a-z_]*\).*/\1/p' "$TMP/$name.final" | LC_ALL=C sort | uniq -c |
        awk '{ print $2, $1 }' >"$TMP/$name.families"
done
# Families only one side has, and shared families whose series per group
# differ (a different group count alone is reported above).
LC_ALL=C join -a1 -a2 -e0 -o 0,1.2,2.2 "$TMP/outrider.families" "$TMP/pe.families" >"$TMP/families"
fam_only=$(awk '$2 == 0 || $3 == 0 { printf "%s%s (%s/%s)", sep, $1, $2, $3; sep = ", " }' "$TMP/families")
fam_diff=$(awk -v go="${NGROUPS[outrider]}" -v gp="${NGROUPS[pe]}" '
    $2 > 0 && $3 > 0 && go > 0 && gp > 0 && $2 / go != $3 / gp {
        printf "%s%s (%s/%s)", sep, $1, $2, $3; sep = ", " }' "$TMP/families")
[[ -z $fam_only ]] || log "families only one side exposes (series outrider/process-exporter): $fam_only"
[[ -z $fam_diff ]] || log "families with different series per group (outrider/process-exporter): $fam_diff"

# --- report ------------------------------------------------------------------------

for name in "${NAMES[@]}"; do
    CPU_MS[$name]=$(calc "${CPU[$name]} / ${COLL[$name]} * 1000")
    CPU_MIN[$name]=$(calc "${CPU[$name]} / $ELAPSED * 60")
done
COLS=("collections" "CPU s" "CPU ms/coll" "CPU s/min" "RSS MiB" "peak RSS MiB" "groups" "series" "scrape ms")

# row_values NAME: the cells for a program.
row_values() {
    local n=$1
    printf '%.1f\n%.2f\n%.2f\n%.2f\n%.1f\n%.1f\n%d\n%d\n%s\n' "${COLL[$n]}" "${CPU[$n]}" \
        "${CPU_MS[$n]}" "${CPU_MIN[$n]}" "${RSS[$n]}" "${HWM[$n]}" "${NGROUPS[$n]}" \
        "${SERIES[$n]}" "${SCRAPE_MS[$n]}"
}
# ratio_values: outrider/process-exporter for each cell.
ratio_values() {
    local c
    for c in "${COLL[outrider]} ${COLL[pe]}" "${CPU[outrider]} ${CPU[pe]}" \
        "${CPU_MS[outrider]} ${CPU_MS[pe]}" "${CPU_MIN[outrider]} ${CPU_MIN[pe]}" \
        "${RSS[outrider]} ${RSS[pe]}" "${HWM[outrider]} ${HWM[pe]}" \
        "${NGROUPS[outrider]} ${NGROUPS[pe]}" "${SERIES[outrider]} ${SERIES[pe]}" \
        "${SCRAPE_MS[outrider]} ${SCRAPE_MS[pe]}"; do
        # shellcheck disable=SC2086 # two numbers, split on purpose
        echo "$(ratio $c)x"
    done
}

ROW_NAMES=("outrider (processes only)" "process-exporter" "ratio outrider/process-exporter")
declare -a ROWS=()
mapfile -t v < <(row_values outrider); ROWS+=("$(IFS='|'; echo "${v[*]}")")
mapfile -t v < <(row_values pe);       ROWS+=("$(IFS='|'; echo "${v[*]}")")
mapfile -t v < <(ratio_values);        ROWS+=("$(IFS='|'; echo "${v[*]}")")

SETUP="$(nproc) CPUs, $PROCS processes (${#SLEEPERS[@]} sleep children added), $OUT_VERSION vs $PE_VERSION; groups {{.Comm}} of every process with a command line, children on; process-exporter -gather-smaps=false -threads=false; $(printf '%.1f' "$ELAPSED")s measured after ${WARMUP_SECONDS}s warmup, each scraped once per second; outrider collect_interval ${INTERVAL}s"

echo
echo "outrider processes collector vs process-exporter ($SETUP)"
echo
printf '%-34s' ""
printf '%14s' "${COLS[@]}"
echo
for i in "${!ROW_NAMES[@]}"; do
    IFS='|' read -ra v <<<"${ROWS[$i]}"
    printf '%-34s' "${ROW_NAMES[$i]}"
    printf '%14s' "${v[@]}"
    echo
done
echo "(collections: outrider = elapsed s / ${INTERVAL}s interval, process-exporter = scrapes answered;"
echo " CPU from /proc/PID/stat utime+stime, resolution 1/$CLK_TCK s; RSS at the end of the window, peak = VmHWM;"
echo " series = namedprocess_namegroup_* samples; scrape ms = mean curl time_total, gzip, Prometheus Accept)"
echo "cross-check: outrider_collector_duration_seconds{collector=\"processes\"} mean ${DUR_MEAN} ms, max ${DUR_MAX} ms" \
    "over $DUR_N scrapes ($DUR_CHANGES changes); outrider CPU per collection from /proc $(printf '%.2f' "${CPU_MS[outrider]}") ms"

# Targets; informational only.
echo
echo "targets (outrider vs process-exporter):"
check_target "CPU per collection" "$(ratio "${CPU_MS[outrider]}" "${CPU_MS[pe]}")" "<=" 0.5
check_target "RSS" "$(ratio "${RSS[outrider]}" "${RSS[pe]}")" "<=" 0.5

echo
echo "--- markdown ---"
markdown_table
echo
echo "_${SETUP}. outrider_collector_duration_seconds{collector=\"processes\"}: mean ${DUR_MEAN} ms, max ${DUR_MAX} ms._"
echo "--- markdown ---"

(( FAILED == 0 )) || { log "some phases reported errors (see warnings above)"; exit 1; }
