#!/usr/bin/env bash
# bench/soak.sh: outrider under sustained load, bad for leaks and races.
#
# outrider runs with basic auth on the read class (a web config file with a
# bcrypt hash) and a push token. For SOAK_SECONDS, at the same time:
#   - wrk scrapes /metrics at full speed with the correct password;
#   - the rules are reloaded every RELOAD_SECONDS (alternately by rewriting a
#     rule file, which the file watcher picks up, and by POST /-/reload with
#     the reload token);
#   - one client pushes, one push at a time, to PUSH_GROUPS numbered groups
#     in turn through each push API: JSON (POST /api/v1/metrics/push), the
#     Pushgateway's (PUT /metrics/job/soak/g/N) and the Pushgateway's with a
#     base64 job name holding a '/' (PUT /metrics/job@base64/...), each push
#     a new value; it stops at the deadline or after PUSH_MAX rounds;
#   - FLOOD_CLIENTS clients at once send /metrics a password that is wrong
#     and new each time (so none is cached and each costs bcrypt), at most
#     FLOOD_RATE requests a second and FLOOD_MAX in all.
# After the soak, /metrics must hold every group's last accepted push, with
# its value. A warm-up of WARMUP_SECONDS under the same load comes first, so
# allocator pools, the pushed groups and the rule sets reach their working
# size before memory is measured. It reports the requests by status (the
# scrapes, the pushes per API and the wrong passwords), the reloads done,
# and resident memory after the warm-up, at the end, at its highest and
# every RELOAD_SECONDS.
#
# Usage:  bench/soak.sh   (needs root only to install wrk, curl or python3-bcrypt)
# Env:    SOAK_SECONDS=60 WARMUP_SECONDS=60 RELOAD_SECONDS=3
#         WRK_THREADS=1 WRK_CONNECTIONS=8
#         PUSH_GROUPS=50 PUSH_MAX=100000 OUTRIDER_PUSH_TOKEN=...
#         FLOOD_CLIENTS=16 FLOOD_RATE=200 FLOOD_MAX=100000
#         OUTRIDER_BIN=path           (default: cargo build --release)
# Exit:   0 when every scrape and push with the right credentials got a 2xx
#         (or a deliberate 429), every accepted push is in /metrics, every
#         wrong password got 401 (or 503 when bcrypt's queue was full), no
#         socket error happened, every reload succeeded and memory stayed
#         flat (end at most MAX_GROWTH_PERCENT=10 above the post-warm-up
#         figure); 1 otherwise.

set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-60}
WARMUP_SECONDS=${WARMUP_SECONDS:-60}
RELOAD_SECONDS=${RELOAD_SECONDS:-3}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-8}
MAX_GROWTH_PERCENT=${MAX_GROWTH_PERCENT:-10}
PUSH_GROUPS=${PUSH_GROUPS:-50}
PUSH_MAX=${PUSH_MAX:-100000}
FLOOD_CLIENTS=${FLOOD_CLIENTS:-16}
FLOOD_RATE=${FLOOD_RATE:-200}
FLOOD_MAX=${FLOOD_MAX:-100000}
TOKEN=soak-reload-token-0123456789
PUSH_TOKEN=${OUTRIDER_PUSH_TOKEN:-soak-push-token-0123456789}
USER_NAME=prometheus
PASSWORD=soak-scrape-password

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_whole SOAK_SECONDS WARMUP_SECONDS RELOAD_SECONDS WRK_THREADS WRK_CONNECTIONS \
    MAX_GROWTH_PERCENT PUSH_GROUPS PUSH_MAX FLOOD_CLIENTS FLOOD_RATE FLOOD_MAX
(( SOAK_SECONDS > 0 && RELOAD_SECONDS > 0 )) || die "SOAK_SECONDS and RELOAD_SECONDS must be > 0"
(( PUSH_GROUPS > 0 && FLOOD_CLIENTS > 0 && FLOOD_RATE > 0 )) ||
    die "PUSH_GROUPS, FLOOD_CLIENTS and FLOOD_RATE must be > 0"
(( ${#PUSH_TOKEN} >= 16 )) || die "OUTRIDER_PUSH_TOKEN must have at least 16 characters"

# bcrypt_python: a python3 that can import bcrypt (Debian's python3-bcrypt
# is for /usr/bin/python3, which may not be the python3 on PATH).
bcrypt_python() {
    local py
    for py in python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import bcrypt' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
bcrypt_python >/dev/null || command -v htpasswd >/dev/null || missing+=(python3-bcrypt)
install_missing ${missing[@]+"${missing[@]}"}
build_outrider

# bcrypt_hash PASSWORD: a cost-10 bcrypt hash, as `htpasswd -nbBC 10` makes.
bcrypt_hash() {
    local py
    if py=$(bcrypt_python); then
        "$py" -c 'import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(10)).decode())' "$1"
    else
        htpasswd -nbBC 10 "" "$1" | tr -d ':\n'
    fi
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/outrider-soak.XXXXXX")
declare -A PID=() URL=() LABEL=([outrider]=outrider)
set_cleanup_traps

# --- set-up ------------------------------------------------------------------

rule() {
    cat <<RULE
groups:
  - name: soak
    rules:
      - alert: $1
        selector: node_load1
        threshold: {above: {warning: $2}}
RULE
}
mkdir -p "$TMP/rules" "$TMP/storage"
rule SoakA -1 >"$TMP/rules/soak.yml"
HASH=$(bcrypt_hash "$PASSWORD")
[[ $HASH == \$2* ]] || die "could not make a bcrypt hash"
# Basic auth guards the read class only: pushes and reloads carry their
# bearer token in the Authorization header instead.
cat >"$TMP/web.yml" <<WEB
basic_auth_users:
  $USER_NAME: '$HASH'
WEB
cat >"$TMP/outrider.yml" <<CONFIG
collect_interval: 1s
rules: ['$TMP/rules']
web:
  reload_token: $TOKEN
  config_file: '$TMP/web.yml'
push:
  token: $PUSH_TOKEN
collectors:
  containers: {enabled: false}
CONFIG

read -r PORT <<<"$(free_ports 1)" || die "could not find a free port"
start outrider "$PORT" "$OUTRIDER_BIN" --config.file "$TMP/outrider.yml" \
    --web.listen-address "127.0.0.1:$PORT" --storage.path "$TMP/storage"
# wait_ready scrapes URL, which must carry the password now.
URL[outrider]="http://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/metrics"
wait_ready outrider
OUT_PID=${PID[outrider]}
BASE="http://127.0.0.1:$PORT"
BASIC="Authorization: Basic $(printf '%s:%s' "$USER_NAME" "$PASSWORD" | base64 -w0)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/metrics" || true)
[[ $code == 401 ]] || die "GET /metrics without a password answered $code, not 401"

# wrk counts responses by status in every thread; done() adds them up.
cat >"$TMP/status.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d %d\n", code, n)) end
  local e = summary.errors
  io.write(string.format("socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
  io.write(string.format("requests %d\n", summary.requests))
  io.write(string.format("p99_ms %.2f\n", latency:percentile(99) / 1000))
end
LUA

# --- push traffic --------------------------------------------------------------
# One client, one push at a time, round-robin over PUSH_GROUPS groups of each
# API, each push carrying the round number as its value. Every push is logged
# as "api group value status" in $TMP/push-PHASE.log; the last 2xx for a
# group is what /metrics must show after the soak (a refused push changes
# nothing, so an earlier accepted value stays).
B64_JOB=soak/b64
B64_JOB_ENC=$(printf '%s' "$B64_JOB" | base64 -w0 | tr '+/' '-_')

# push_loop PHASE SECONDS FIRST: push until SECONDS have passed or PUSH_MAX
# rounds are done; values start at FIRST so they grow across phases.
push_loop() {
    local phase=$1 deadline=$(( SECONDS + $2 )) value=$3 round=0 g code
    local auth="Authorization: Bearer $PUSH_TOKEN"
    while (( SECONDS < deadline && round < PUSH_MAX )); do
        g=$(( round % PUSH_GROUPS ))
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "$auth" \
            -H 'Content-Type: application/json' "$BASE/api/v1/metrics/push" \
            -d "{\"service\":\"soak\",\"metrics\":[{\"name\":\"soak_json_push\",\"type\":\"gauge\",\"value\":$value,\"labels\":{\"g\":\"$g\"}}]}" ||
            true)
        echo "json $g $value $code"
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "$auth" -X PUT \
            --data-binary "soak_pg_push $value"$'\n' "$BASE/metrics/job/soak/g/$g" || true)
        echo "pushgateway $g $value $code"
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "$auth" -X PUT \
            --data-binary "soak_b64_push $value"$'\n' \
            "$BASE/metrics/job@base64/$B64_JOB_ENC/g/$g" || true)
        echo "base64 $g $value $code"
        round=$(( round + 1 )) value=$(( value + 1 ))
    done >"$TMP/push-$phase.log"
}

start_push_traffic() { # PHASE SECONDS FIRST
    push_loop "$@" &
    PUSH_PID=$!
}

# check_push_traffic: every group's last accepted push is in /metrics, with
# its value; prints the groups that are not, and fails when there are any.
check_push_traffic() {
    curl -fsS --max-time 10 -H "$BASIC" "$BASE/metrics" >"$TMP/after.prom" ||
        { log "FAIL: could not read /metrics after the soak"; return 1; }
    # In the order they were sent: the warm-up's (if any), then the soak's.
    cat "$TMP"/push-warmup.log "$TMP/push-soak.log" 2>/dev/null >"$TMP/push-all.log"
    awk -v b64job="$B64_JOB" '
        # The pushes, in the order they were answered: the last 2xx wins.
        FILENAME == ARGV[1] { if ($4 ~ /^2/) want[$1 " " $2] = $3; next }
        function label(line, name,   m) {
            if (match(line, "[{,]" name "=\"[^\"]*\"")) {
                m = substr(line, RSTART + 1, RLENGTH - 1)
                sub("^" name "=\"", "", m); sub("\"$", "", m)
                return m
            }
            return ""
        }
        /^soak_json_push\{/ && label($0, "service") == "soak" { have["json " label($0, "g")] = $NF }
        /^soak_pg_push\{/ && label($0, "job") == "soak" { have["pushgateway " label($0, "g")] = $NF }
        /^soak_b64_push\{/ && label($0, "job") == b64job { have["base64 " label($0, "g")] = $NF }
        END {
            for (k in want) {
                n++
                if (!(k in have)) { print "missing: " k " = " want[k]; bad++ }
                else if (have[k] + 0 != want[k] + 0) { print "wrong: " k " = " have[k] ", pushed " want[k]; bad++ }
            }
            print n + 0 " groups checked"
            exit (bad > 0)
        }' "$TMP/push-all.log" "$TMP/after.prom" >"$TMP/push-check.out"
}

# --- wrong passwords -------------------------------------------------------------
# flood_loop PHASE SECONDS: batches of FLOOD_CLIENTS requests at once, each
# with a password never sent before, at most FLOOD_RATE a second and
# FLOOD_MAX in all; the statuses go to $TMP/flood-PHASE.log.
flood_loop() {
    local phase=$1 deadline=$(( SECONDS + $2 )) sent=0 i
    local pause
    pause=$(calc "$FLOOD_CLIENTS / $FLOOD_RATE")
    while (( SECONDS < deadline && sent < FLOOD_MAX )); do
        for (( i = 0; i < FLOOD_CLIENTS; i++ )); do
            (( i == 0 )) || echo next
            printf 'url = "%s/metrics"\nuser = "%s:wrong-%s-%s-%s"\noutput = /dev/null\nmax-time = 10\nwrite-out = "%%{http_code}\\n"\n' \
                "$BASE" "$USER_NAME" "$phase" "$sent" "$i"
        done >"$TMP/flood.curlrc"
        sleep "$pause" &
        curl -s --no-progress-meter -Z --parallel-immediate --parallel-max "$FLOOD_CLIENTS" -K "$TMP/flood.curlrc" || true
        wait "$!"
        sent=$(( sent + FLOOD_CLIENTS ))
    done >"$TMP/flood-$phase.log"
}

start_flood() { # PHASE SECONDS
    flood_loop "$@" &
    FLOOD_PID=$!
}

# --- warm-up, then the soak ----------------------------------------------------

asked=0 http_reload_failures=0 rss_max=0 rss_samples=()
# reload_for SECONDS [measure]: ask for a reload every RELOAD_SECONDS until
# SECONDS have passed; with "measure", record memory after each.
reload_for() {
    local deadline=$(( SECONDS + $1 )) code rss
    while (( SECONDS + RELOAD_SECONDS < deadline )); do
        sleep "$RELOAD_SECONDS"
        if (( asked % 2 == 0 )); then
            rule "Soak$asked" "$(( asked % 5 - 1 ))" >"$TMP/soak.yml.tmp"
            mv "$TMP/soak.yml.tmp" "$TMP/rules/soak.yml"
        else
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
                -H "Authorization: Bearer $TOKEN" "$BASE/-/reload" || true)
            [[ $code == 200 ]] || http_reload_failures=$(( http_reload_failures + 1 ))
        fi
        asked=$(( asked + 1 ))
        if [[ ${2:-} == measure ]]; then
            rss=$(status_kib "$OUT_PID" VmRSS)
            rss_samples+=("$(( rss / 1024 )).$(( rss % 1024 * 10 / 1024 ))")
            (( rss > rss_max )) && rss_max=$rss
        fi
    done
    sleep $(( deadline - SECONDS > 0 ? deadline - SECONDS : 0 ))
}

if (( WARMUP_SECONDS > 0 )); then
    log "warm-up: ${WARMUP_SECONDS}s of wrk, pushes, wrong passwords and reloads"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WARMUP_SECONDS}s" -H "$BASIC" \
        "$BASE/metrics" >/dev/null &
    WRK_PID=$!
    start_push_traffic warmup "$WARMUP_SECONDS" 1
    start_flood warmup "$WARMUP_SECONDS"
    reload_for "$WARMUP_SECONDS"
    wait "$WRK_PID" || die "wrk failed during the warm-up"
    wait "$PUSH_PID" || die "the push loop failed during the warm-up"
    wait "$FLOOD_PID" || die "the wrong-password loop failed during the warm-up"
fi
# The warm-up's last reload lands on the next tick (1 s).
sleep 2
RSS_START=$(status_kib "$OUT_PID" VmRSS)
rss_max=$RSS_START
asked=0
reloads_before=$(grep -c 'configuration and rules reloaded' "$TMP/outrider.log" || true)

log "soak: ${SOAK_SECONDS}s of wrk on /metrics, pushes, wrong passwords, a rule reload every ${RELOAD_SECONDS}s"
wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 5s -H "$BASIC" \
    -s "$TMP/status.lua" "$BASE/metrics" >"$TMP/wrk.out" 2>&1 &
WRK_PID=$!
# Values of the soak's pushes start above any the warm-up can have sent.
start_push_traffic soak "$SOAK_SECONDS" $(( PUSH_MAX + 1 ))
start_flood soak "$SOAK_SECONDS"
reload_for "$SOAK_SECONDS" measure
wait "$WRK_PID" || die "wrk failed: $(cat "$TMP/wrk.out")"
wait "$PUSH_PID" || die "the push loop failed"
wait "$FLOOD_PID" || die "the wrong-password loop failed"
sleep 2
push_check_failed=0
check_push_traffic || push_check_failed=1
RSS_END=$(status_kib "$OUT_PID" VmRSS)
(( RSS_END > rss_max )) && rss_max=$RSS_END
reloads_done=$(( $(grep -c 'configuration and rules reloaded' "$TMP/outrider.log" || true) - reloads_before ))
refused=$(grep -c 'reload refused' "$TMP/outrider.log" || true)

# --- report --------------------------------------------------------------------

requests=$(awk '$1 == "requests" { print $2 }' "$TMP/wrk.out")
socket_errors=$(awk '$1 == "socket_errors" { print $2 }' "$TMP/wrk.out")
p99=$(awk '$1 == "p99_ms" { print $2 }' "$TMP/wrk.out")
statuses=$(awk '$1 == "status" { printf "%s%s: %s", sep, $2, $3; sep = ", " }' "$TMP/wrk.out")
bad=$(awk '$1 == "status" && $2 != 200 && $2 != 429 { n += $3 } END { print n + 0 }' "$TMP/wrk.out")
growth=$(calc "($RSS_END - $RSS_START) * 100 / $RSS_START")
# statuses_of FILE COLUMN: "200: 12, 429: 1" for the statuses in COLUMN.
statuses_of() {
    awk -v c="$2" '{ n[$c]++ } END { for (s in n) printf "%s%s: %s", (sep++ ? ", " : ""), s, n[s] }' "$1"
}
# Pushes of the soak by API, and over both phases the ones answered other
# than 2xx or 429.
push_row() { # API
    local only=$TMP/push-$1.only
    awk -v a="$1" '$1 == a' "$TMP/push-soak.log" >"$only"
    echo "$(wc -l <"$only") ($(statuses_of "$only" 4))"
}
push_bad=$(awk '$4 !~ /^2/ && $4 != 429 { n++ } END { print n + 0 }' "$TMP/push-all.log")
pushes=$(wc -l <"$TMP/push-soak.log")
flood_sent=$(wc -l <"$TMP/flood-soak.log")
flood_bad=$(awk '$1 != 401 && $1 != 503 { n++ } END { print n + 0 }' "$TMP"/flood-*.log)

echo
echo "| soak | figure |"
echo "|---|---:|"
echo "| duration | ${SOAK_SECONDS} s (after a ${WARMUP_SECONDS} s warm-up), wrk -t$WRK_THREADS -c$WRK_CONNECTIONS |"
echo "| scrapes with the password | $requests ($(calc "$requests / $SOAK_SECONDS" | cut -d. -f1)/s), p99 ${p99} ms |"
echo "| scrapes by status | $statuses |"
echo "| socket errors | $socket_errors |"
echo "| pushes, one at a time | $pushes ($(calc "$pushes / $SOAK_SECONDS" | cut -d. -f1)/s) to $PUSH_GROUPS groups per API |"
echo "| JSON pushes by status | $(push_row json) |"
echo "| Pushgateway pushes by status | $(push_row pushgateway) |"
echo "| Pushgateway \`@base64\` pushes by status | $(push_row base64) |"
echo "| accepted pushes in /metrics after the soak | $(tail -n 1 "$TMP/push-check.out"), $(grep -c '^missing\|^wrong' "$TMP/push-check.out" || true) missing or wrong |"
echo "| wrong passwords, $FLOOD_CLIENTS at once | $flood_sent ($(calc "$flood_sent / $SOAK_SECONDS" | cut -d. -f1)/s): $(statuses_of "$TMP/flood-soak.log" 1) |"
echo "| reloads asked / done / refused | $asked / $reloads_done / $refused |"
echo "| RSS every ${RELOAD_SECONDS} s, MiB | ${rss_samples[*]} |"
echo "| RSS after warm-up / end / highest | $(( RSS_START / 1024 )).$(( RSS_START % 1024 * 10 / 1024 )) / $(( RSS_END / 1024 )).$(( RSS_END % 1024 * 10 / 1024 )) / $(( rss_max / 1024 )).$(( rss_max % 1024 * 10 / 1024 )) MiB ($(awk -v g="$growth" 'BEGIN { printf "%+.1f", g }')%) |"

failed=0
(( bad == 0 )) || { log "FAIL: $bad responses other than 200 or 429"; failed=1; }
(( socket_errors == 0 )) || { log "FAIL: $socket_errors socket errors"; failed=1; }
(( push_bad == 0 )) || { log "FAIL: $push_bad pushes answered other than 2xx or 429"; failed=1; }
(( push_check_failed == 0 )) ||
    { log "FAIL: accepted pushes not in /metrics: $(head -n 5 "$TMP/push-check.out" | paste -sd ';' -)"; failed=1; }
(( flood_bad == 0 )) || { log "FAIL: $flood_bad wrong passwords answered other than 401 or 503"; failed=1; }
(( http_reload_failures == 0 )) || { log "FAIL: $http_reload_failures POST /-/reload not accepted"; failed=1; }
(( refused == 0 && reloads_done >= asked )) || { log "FAIL: $asked reloads asked, $reloads_done done, $refused refused"; failed=1; }
awk -v g="$growth" -v m="$MAX_GROWTH_PERCENT" 'BEGIN { exit !(g <= m) }' ||
    { log "FAIL: resident memory grew ${growth}% (more than ${MAX_GROWTH_PERCENT}%)"; failed=1; }
exit "$failed"
