# shellcheck shell=bash
# bench/lib.sh: helpers shared by the bench scripts. Source it, do not run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Defines REPO and CLK_TCK and the functions below; nothing else runs. The
# process helpers use globals the sourcing script declares:
#   TMP                  scratch directory (logs), removed by cleanup
#   PID (assoc. array)   name -> PID of every process the script started
#   URL, LABEL (assoc.)  name -> /metrics URL / display name (start, wait_ready)
# and cleanup calls cleanup_extra first when the script defines it.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
CLK_TCK=$(getconf CLK_TCK)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# require_whole VAR...: each variable holds a whole number.
require_whole() {
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
    done
}

# install_missing PACKAGE...: apt-get install the packages, if any; apt-get
# needs root, so say so instead of failing halfway through an install.
install_missing() {
    (( $# )) || return 0
    (( EUID == 0 )) || die "missing $*; run as root or install them"
    log "installing $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# build_outrider: unless OUTRIDER_BIN is set, the release build outrider
# ships (scripts/build-release.sh); either way it must be executable.
build_outrider() {
    if [[ -z ${OUTRIDER_BIN:-} ]]; then
        log "scripts/build-release.sh"
        OUTRIDER_BIN=$("$REPO/scripts/build-release.sh") || die "scripts/build-release.sh failed"
    fi
    [[ -x $OUTRIDER_BIN ]] || die "no outrider binary at $OUTRIDER_BIN"
}

# --- processes and cleanup -------------------------------------------------

# Stop exactly the processes this script started, by PID: TERM, up to 5 s
# grace, then KILL. Then cleanup_extra, if defined, and remove $TMP. Runs on
# every exit path once set_cleanup_traps has been called.
cleanup() {
    local rc=$? name pid i
    trap - EXIT INT TERM
    for name in "${!PID[@]}"; do
        pid=${PID[$name]}
        kill -TERM "$pid" 2>/dev/null || continue
        for (( i = 0; i < 50; i++ )); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
    rm -rf -- "$TMP"
    exit "$rc"
}

set_cleanup_traps() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Prints N distinct free ports on 127.0.0.1. python3 holds all N sockets at
# once so they differ; without it, try random ports (bounded) and keep the
# ones where a connect is refused.
free_ports() {
    local n=$1
    if command -v python3 >/dev/null; then
        python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
        return
    fi
    local ports=() p tries
    for (( tries = 0; tries < 200 && ${#ports[@]} < n; tries++ )); do
        p=$(( 20000 + RANDOM % 40000 ))
        [[ " ${ports[*]} " == *" $p "* ]] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || ports+=("$p")
    done
    (( ${#ports[@]} == n )) || return 1
    echo "${ports[*]}"
}

# start_bg NAME CMD...: run CMD in the background, logging to $TMP/NAME.log.
start_bg() {
    local name=$1
    shift
    "$@" </dev/null >"$TMP/$name.log" 2>&1 &
    # shellcheck disable=SC2004 # PID is an associative array (declared by the script)
    PID[$name]=$!
}

# start NAME PORT CMD...: start_bg NAME CMD..., serving /metrics on PORT.
start() {
    local name=$1 port=$2
    shift 2
    start_bg "$name" "$@"
    # shellcheck disable=SC2004 # URL is an associative array (declared by the script)
    URL[$name]="http://127.0.0.1:$port/metrics"
}

# Wait (at most 10 s) until NAME answers on /metrics; outrider must also have
# logged its "listening" line. Fail early if the process died.
wait_ready() {
    local name=$1 i
    for (( i = 0; i < 100; i++ )); do
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            tail -n 20 "$TMP/$name.log" >&2
            die "${LABEL[$name]} exited during startup"
        fi
        if { [[ $name != outrider ]] || grep -qs 'message=listening' "$TMP/$name.log"; } &&
            curl -fsS -o /dev/null --max-time 2 "${URL[$name]}" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$TMP/$name.log" >&2
    die "${LABEL[$name]} not ready after 10 s"
}

# --- measurements ------------------------------------------------------------

# utime+stime of the whole process (all threads), in clock ticks. The comm
# field may contain spaces, so split after its closing parenthesis: utime
# and stime are fields 14 and 15, i.e. 11 and 12 after "pid (comm)".
cpu_ticks() {
    local stat rest f
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) }
    read -ra f <<<"$rest"
    echo $(( f[11] + f[12] ))
}

# status_kib PID FIELD: VmRSS / VmHWM in KiB.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# calc 'awk expression': float arithmetic.
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }

# ratio A B: A/B with precision that suits its size, or n/a when B is zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (b + 0 == 0) { print "n/a"; exit }
        r = a / b
        if (r >= 100) printf "%.0f", r; else if (r >= 10) printf "%.1f", r
        else if (r >= 0.1 || r == 0) printf "%.2f", r; else printf "%.2g", r }'
}

# PASS/MISS line for a ratio against its target: check_target NAME RATIO OP LIMIT.
check_target() {
    local verdict
    if [[ $2 == n/a ]]; then
        verdict="N/A "
    elif [[ $(awk -v x="$2" -v y="$4" -v op="$3" 'BEGIN { print (op == "<=" ? x <= y : x >= y) }') == 1 ]]; then
        verdict=PASS
    else
        verdict=MISS
    fi
    printf '%s  %-18s %8sx   (target %s %sx)\n' "$verdict" "$1" "$2" "$3" "$4"
}

# The results as a markdown table, from the caller's COLS, ROW_NAMES and
# ROWS ('|'-separated values) arrays.
markdown_table() {
    printf '| |'; printf ' %s |' "${COLS[@]}"; echo
    printf '|---|'; printf -- '---:|%.0s' "${COLS[@]}"; echo
    local i v
    for i in "${!ROW_NAMES[@]}"; do
        IFS='|' read -ra v <<<"${ROWS[$i]}"
        printf '| %s |' "${ROW_NAMES[$i]}"
        printf ' %s |' "${v[@]}"
        echo
    done
}
