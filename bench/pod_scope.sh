#!/usr/bin/env bash
# bench/pod_scope.sh: what outrider costs as a pod's sidecar (scope: pod), at
# the default tick.
#
# A pod-like setting on this machine: a new PID namespace (unshare --pid
# --mount-proc, as a pod's shared process namespace) holding an app process
# in its own memory cgroup (another container) and outrider with --scope pod,
# its default config and its default 15 s tick; one scrape per tick, as
# Prometheus would. After a warm-up, it measures over DURATION seconds:
#   - CPU share of one core: (utime+stime growth) / elapsed;
#   - VmRSS at the end (and its anonymous / file-backed split), VmHWM.
# The targets: at most 8 MiB resident and 0.05% of one core.
#
# Usage:  bench/pod_scope.sh         (as root: unshare and a cgroup need it)
# Env:    DURATION=300 WARMUP=30 OUTRIDER_BIN=path (default: the build
#         of scripts/build-release.sh)
# Exit:   0 when the run was clean (the targets are informational), 1 when
#         something failed.

set -euo pipefail

DURATION=${DURATION:-300}
WARMUP=${WARMUP:-30}
TICK=15

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_whole DURATION WARMUP
(( DURATION > 0 )) || die "DURATION must be > 0"
(( EUID == 0 )) || die "run as root: a PID namespace and a cgroup for the app need it"
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
command -v curl >/dev/null || install_missing curl

build_outrider

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrider-pod-bench.XXXXXX")
declare -A PID=() URL=() LABEL=([outrider]="outrider (scope: pod)")
# The app's cgroup, a sibling container's as the sidecar sees it.
APP_CGROUP=""
for root in /sys/fs/cgroup/memory /sys/fs/cgroup; do
    if [[ -w $root/cgroup.procs ]]; then
        APP_CGROUP=$root/outrider-pod-bench.$$
        break
    fi
done
[[ -n $APP_CGROUP ]] || die "no writable cgroup filesystem for the app's cgroup"
cleanup_extra() { rmdir "$APP_CGROUP" 2>/dev/null || true; }
set_cleanup_traps

read -r PORT <<<"$(free_ports 1)" || die "could not find a free port"
mkdir -p "$TMP/storage" "$APP_CGROUP"

# The pod: PID 1 is a shell (as a pause process), the app sleeps in its own
# cgroup, outrider runs in the shell's.
cat >"$TMP/pod.sh" <<EOF
sleep 100000 &
echo \$! >"$APP_CGROUP/cgroup.procs"
exec "$OUTRIDER_BIN" --scope pod --web.listen-address 127.0.0.1:$PORT \
    --storage.path "$TMP/storage" --collect.interval ${TICK}s
EOF
start_bg pod unshare --pid --fork --kill-child --mount-proc sh "$TMP/pod.sh"
URL[outrider]="http://127.0.0.1:$PORT/metrics"

# outrider's PID as the host sees it: the child of unshare.
OUT_PID=""
for (( i = 0; i < 100 && ${#OUT_PID} == 0; i++ )); do
    OUT_PID=$(awk '{print $1}' "/proc/${PID[pod]}/task/${PID[pod]}/children" 2>/dev/null)
    [[ -n $OUT_PID && $(cat "/proc/$OUT_PID/comm" 2>/dev/null) == outrider ]] || OUT_PID=""
    sleep 0.1
done
[[ -n $OUT_PID ]] || { cat "$TMP/pod.log" >&2; die "outrider did not start"; }
PID[outrider]=$OUT_PID
for (( i = 0; i < 100; i++ )); do
    curl -fsS -o /dev/null --max-time 2 "${URL[outrider]}" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o "$TMP/first.prom" --max-time 2 "${URL[outrider]}" || die "outrider not ready after 10 s"

# gzip, as Prometheus asks; --compressed unpacks it for the counts below.
scrape() { curl -fsS --compressed -o "$TMP/last.prom" --max-time 5 "${URL[outrider]}"; }

log "warm-up ${WARMUP}s, then ${DURATION}s at a ${TICK}s tick, one scrape per tick"
sleep "$WARMUP"
t0=$(date +%s.%N)
c0=$(cpu_ticks "$OUT_PID")
end=$(( SECONDS + DURATION ))
while (( SECONDS < end )); do
    scrape || die "a scrape failed"
    sleep "$TICK"
done
c1=$(cpu_ticks "$OUT_PID")
t1=$(date +%s.%N)
rss=$(status_kib "$OUT_PID" VmRSS)
hwm=$(status_kib "$OUT_PID" VmHWM)
anon=$(status_kib "$OUT_PID" RssAnon)
file=$(status_kib "$OUT_PID" RssFile)

cpu_share=$(calc "100 * ($c1 - $c0) / $CLK_TCK / ($t1 - $t0)")
success=$(grep '^outrider_collector_success' "$TMP/last.prom" | sed 's/^outrider_collector_success//' | tr '\n' ' ' || true)

printf '\nscope: pod, tick %ss, %ss measured after a %ss warm-up\n' "$TICK" "$DURATION" "$WARMUP"
printf 'collectors: %s\n' "$success"
printf 'series exported: %s\n' "$(grep -vc '^#' "$TMP/last.prom")"
printf '| | value | target |\n|---|---:|---:|\n'
printf '| CPU, %% of one core | %.4f | 0.05 |\n' "$cpu_share"
printf '| RSS MiB | %s | 8 |\n' "$(calc "$rss / 1024")"
printf '| of which anonymous MiB | %s | |\n' "$(calc "$anon / 1024")"
printf '| of which file-backed MiB | %s | |\n' "$(calc "$file / 1024")"
printf '| peak RSS MiB | %s | |\n' "$(calc "$hwm / 1024")"
verdict() { awk -v x="$1" -v y="$2" 'BEGIN { print (x <= y ? "PASS" : "MISS") }'; }
printf '%s  CPU %.4f%% of one core (target <= 0.05%%)\n' "$(verdict "$cpu_share" 0.05)" "$cpu_share"
printf '%s  RSS %s MiB (target <= 8 MiB)\n' "$(verdict "$rss" 8192)" "$(calc "$rss / 1024")"
