#!/usr/bin/env bash
# Integration suite under a real systemd (PID 1) booted in systemd-nspawn: the real
# `rigforge-api install` inside a Debian rootfs, driven with curl from inside the container.
#
# Run alone, as root on Linux:  bash tests/systemd/run-it.sh
# env: RIGFORGE_IT_CACHE (rootfs tarball dir, default /var/cache/rigforge-api-it)
#      MIRROR (Debian mirror, default: the one apt uses)   KEEP=1 (keep the work dir)
# Prints "PASS <name>" / "FAIL <name>: <why>" per assertion, "FIGURE <name> <value>" per measured
# figure (latencies: printed, never gated, as CI shares 2 cores) and "N passed, N failed" last;
# exit 0 iff every assertion passed. It never skips: if it cannot boot it fails, saying why.
# Needs: systemd-nspawn (systemd-container), nsenter + setpriv (util-linux), zstd, and
# debootstrap for the first (cold) run. Host services are never touched: everything runs in
# the container, which has its own network namespace (--private-network) and its own cgroup.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
CACHE=${RIGFORGE_IT_CACHE:-/var/cache/rigforge-api-it}
SUITE=bookworm; TARBALL=$CACHE/rootfs-$SUITE-v1.tar.zst
PACKAGES=systemd,systemd-sysv,dbus,curl,python3,iproute2,procps
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
NAME=rfit-$$; WORK=; BUILD=; NSPAWN=; LEADER=; CGDIRS=; PASS=0; FAIL=0; BOOTS=0
T0=$(date +%s.%N)

log() { printf '[it %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "cannot run: $*"; echo "FAIL harness: $*"; echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
pass() { PASS=$((PASS + 1)); echo "PASS $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $1: $2"; }
ok() { # ok NAME COMMAND...: passes when the command succeeds
  local n=$1; shift
  if "$@" >/dev/null 2>&1; then pass "$n"; else fail "$n" "'$*' failed"; fi
}
is() { # is NAME ACTUAL EXPECTED: string equality
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}
figure() { echo "FIGURE $1 $2"; }   # figure NAME VALUE: a measured figure, printed, never gated
has() { # has NAME TEXT REGEX: extended-regex match
  if grep -Eq -- "$3" <<<"$2"; then pass "$1"; else fail "$1" "'$(head -c 300 <<<"$2" | tr '\n' ' ')' does not match /$3/"; fi
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

inc() { timeout 120 nsenter -t "$LEADER" -a "$@"; }   # run a command inside the container
active() { inc systemctl is-active "$1" 2>/dev/null; }
prop() { inc systemctl show "$1" -p "$2" --value 2>/dev/null; }
# get URL [curl args...]: body, then the HTTP status on the last line (000: no answer)
get() { local url=$1; shift; inc curl -sS -m 3 -o /dev/stdout -w '\n%{http_code}' "$@" "$url" 2>&1; }
code() { get "$@" | tail -1; }
auth() { echo "Authorization: Bearer $TOKEN"; }
procs() { inc pgrep -f 'main\.ts (serve|probe)' | wc -l; }
rfapi() { inc rigforge-api "$@"; }
install_api() { rfapi install --rigforge-home /opt/rigforge --binary /usr/local/bin/rigforge-api \
  --probe-interval 5 "$@" 2>&1; }
json() { # json PYTHON-EXPR < JSON: prints the expression over `d` (the document), '' on error
  python3 -c 'import json,sys
try:
    d = json.loads(sys.stdin.read()); v = eval(sys.argv[1])
    print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
except Exception as e:
    print("")' "$1" 2>/dev/null
}
body() { sed '$d'; }            # strip get's status line
wait_for() { # wait_for SECONDS COMMAND...: poll every 0.2 s until the command succeeds
  local until=$(($(date +%s%N) + $1 * 1000000000)); shift
  while ! "$@" >/dev/null 2>&1; do [ "$(date +%s%N)" -lt "$until" ] || return 1; sleep 0.2; done
}
inactive() { [ "$(active "$1")" != active ] && [ "$(active "$1")" != activating ]; }
mono_us() { prop "$1" "$2"; }    # a *TimestampMonotonic property, in µs

cleanup() {
  if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
    [ -n "$LEADER" ] && timeout 10 nsenter -t "$LEADER" -a systemctl poweroff >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$NSPAWN" 2>/dev/null && kill -TERM "$NSPAWN"
    for _ in $(seq 50); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$NSPAWN" 2>/dev/null && kill -KILL "$NSPAWN"
  fi
  for d in $CGDIRS; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  rm -rf "/run/systemd/nspawn/propagate/$NAME"
  [ -n "$BUILD" ] && rm -rf "$BUILD" "$TARBALL.tmp"
  [ -n "$WORK" ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$WORK"
  [ -n "$WORK" ] && [ "${KEEP:-0}" = 1 ] && log "kept $WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 143' TERM INT HUP    # run the EXIT trap on a timeout, too

[ "$(id -u)" = 0 ] || die "must run as root (it boots systemd in a container)"
[ "$(uname -s)" = Linux ] || die "Linux only"
for tool in systemd-nspawn nsenter setpriv zstd timeout python3; do
  command -v $tool >/dev/null || die "$tool is missing (apt-get install systemd-container zstd)"
done
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then CGDIRS=/sys/fs/cgroup/$NAME
else CGDIRS="/sys/fs/cgroup/systemd/$NAME /sys/fs/cgroup/unified/$NAME"; fi
for d in $CGDIRS; do [ -w "$(dirname "$d")" ] || die "cannot create cgroups under $(dirname "$d")"; done
DENO=$(readlink -f "$(command -v deno)") || die "deno is missing"
[ -d "$REPO/node_modules" ] || (cd "$REPO" && deno install >/dev/null 2>&1) || die "deno install failed"

# ---------------------------------------------------------------- rootfs (cached as a tarball)
mkdir -p "$CACHE"
if [ ! -f "$TARBALL" ]; then
  command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
  log "building the $SUITE rootfs with debootstrap from $MIRROR (once; cached at $TARBALL)"
  t=$(date +%s.%N); BUILD=$(mktemp -d "$CACHE/build.XXXXXX")
  # Bounded so that a stalled mirror fails within the Deno test's 600 s budget.
  timeout 420 debootstrap --variant=minbase --include=$PACKAGES "$SUITE" "$BUILD/root" "$MIRROR" \
    > "$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed, see $CACHE/debootstrap.log"
  echo rfit > "$BUILD/root/etc/hostname"
  tar --numeric-owner --xattrs --acls -C "$BUILD/root" -cf - . | zstd -q -T0 -3 -o "$TARBALL.tmp" &&
    mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$BUILD"; BUILD=; [ -f "$TARBALL" ] || die "cannot write $TARBALL"
  log "rootfs built and cached in $(since "$t") s"
fi
# A fresh copy per run (not --volatile=overlay): a reboot of the container keeps the units.
WORK=$(mktemp -d /var/tmp/rigforge-it.XXXXXX); ROOT=$WORK/root; mkdir -p "$ROOT"
zstd -dc "$TARBALL" | tar --numeric-owner --xattrs --acls -C "$ROOT" -xf - || die "cannot restore $TARBALL"

# The program inside: a copy of the checkout taken now (the working tree may change while the
# suite runs) and Deno; `rigforge-api` is a wrapper that runs `deno run` with the compile task's
# flags (`deno compile` would need a download).
FLAGS=$(cd "$REPO" && "$DENO" eval --quiet \
  'import { COMPILE_FLAGS } from "./tests/_cli.ts"; console.log(COMPILE_FLAGS.join(" "));')
[ -n "$FLAGS" ] || die "cannot read the compile task's flags from deno.json"
install -m 0755 "$DENO" "$ROOT/usr/local/bin/deno"
mkdir -p "$ROOT/opt/rigforge-api/tests" "$ROOT/opt/rigforge/data/worker" "$ROOT/var/cache/rigforge-deno"
(cd "$REPO" && cp -a main.ts deno.json deno.lock src units node_modules "$ROOT/opt/rigforge-api/" &&
  cp -a tests/systemd "$ROOT/opt/rigforge-api/tests/") || die "cannot copy the checkout"
chmod -R a+rX,go-w "$ROOT/opt/rigforge-api"
cat > "$ROOT/usr/local/bin/rigforge-api" <<WRAP
#!/bin/sh
export DENO_DIR=/var/cache/rigforge-deno DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
exec /usr/local/bin/deno run $FLAGS --cached-only /opt/rigforge-api/main.ts "\$@"
WRAP
chmod 0755 "$ROOT/usr/local/bin/rigforge-api"
TOKEN=tok-IT-0123456789abcdef0123456789abcdef
POOLPASS=pass-IT-secret-4d2b
(umask 077; cat > "$ROOT/opt/rigforge/config.json" <<CONF
{ "HOME_DIR": "DYNAMIC_HOME", "api": "enabled", "api_port": 8081,
  "ACCESS_TOKEN": "$TOKEN",
  "pools": [{"url": "pool.lan:3333", "user": "rig-it", "pass": "$POOLPASS"}] }
CONF
)
echo "1.17.2" > "$ROOT/opt/rigforge/VERSION"

# ---------------------------------------------------------------- boot
# boot [nobpf]: systemd-nspawn -b in its own cgroup (the host has no systemd: --register=no
# --keep-unit), cgroup v2 inside, BPF allowed unless "nobpf" (then IPAddressDeny= is not
# enforced, as on a host or container without a BPF cgroup firewall).
boot() {
  local bpf=(--capability=CAP_BPF --system-call-filter=bpf) t
  [ "${1:-}" = nobpf ] && bpf=()
  t=$(date +%s.%N)
  for d in $CGDIRS; do mkdir -p "$d" || die "cannot create cgroup $d"; done
  BOOTS=$((BOOTS + 1))
  ( for d in $CGDIRS; do echo "$BASHPID" > "$d/cgroup.procs"; done
    export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
    exec systemd-nspawn -D "$ROOT" -b -q -M "$NAME" --register=no --keep-unit \
      --private-network "${bpf[@]}" ) > "$WORK/console-$BOOTS.log" 2>&1 < /dev/null &
  NSPAWN=$!; LEADER=
  for _ in $(seq 300); do
    LEADER=$(pgrep -P "$NSPAWN" | head -1)
    if [ -n "$LEADER" ]; then
      case "$(inc systemctl is-system-running 2>/dev/null)" in running | degraded) break ;; esac
    fi
    kill -0 "$NSPAWN" 2>/dev/null || { tail -20 "$WORK/console-$BOOTS.log" >&2; die "systemd-nspawn exited during boot"; }
    sleep 0.1
  done
  case "$(inc systemctl is-system-running 2>/dev/null)" in
    running | degraded) ;;
    *) tail -20 "$WORK/console-$BOOTS.log" >&2; die "the container did not finish booting in 30 s" ;;
  esac
  log "booted systemd $(inc systemctl --version | awk 'NR==1{print $2}') (${1:-bpf}) in $(since "$t") s"
}
poweroff() {
  inc systemctl poweroff >/dev/null 2>&1
  for _ in $(seq 150); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$NSPAWN" 2>/dev/null && { log "poweroff hung: killing nspawn"; kill -KILL "$NSPAWN"; }
  wait "$NSPAWN" 2>/dev/null
  NSPAWN=; LEADER=
  for d in $CGDIRS; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
}
journal() { inc journalctl --no-pager -o short-monotonic "$@" 2>/dev/null; }
activations() { journal -u rigforge-api.service | grep -c 'Started rigforge-api'; }

boot
# Warm Deno's caches as root (the dynamic user can only read them): `deno cache`, then one run of
# `serve` answering a request, which fills the transpile and V8 code caches the way a previous
# run of the service would. Then make them world-readable.
inc env DENO_DIR=/var/cache/rigforge-deno deno cache --quiet /opt/rigforge-api/main.ts ||
  die "deno cache failed inside the container"
rfapi --version >/dev/null || die "rigforge-api does not run inside the container"
inc sh -c 'rigforge-api serve --bind 127.0.0.1 --port 18181 --embedded-probe off \
  --rigforge-home /opt/rigforge >/dev/null 2>&1 & p=$!
  for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18181/health && break; sleep 0.2; done
  curl -s -o /dev/null -H "Authorization: Bearer '"$TOKEN"'" http://127.0.0.1:18181/2/summary
  kill $p; wait $p' 2>/dev/null
inc chmod -R a+rX /var/cache/rigforge-deno

# ---------------------------------------------------------------- install refuses without a config
t=$(date +%s.%N); log "install"
inc mv /opt/rigforge/config.json /opt/rigforge/config.json.away
out=$(install_api); rc=$?
is install-without-config-refused "$rc" 1
has install-without-config-says-why "$out" 'no RigForge config.*243'
is install-without-config-writes-nothing "$(inc sh -c 'ls /etc/systemd/system | grep -c rigforge-api')" 0
inc mv /opt/rigforge/config.json.away /opt/rigforge/config.json

# ---------------------------------------------------------------- install: nothing runs yet
IDLE=3
out=$(install_api --idle-exit $IDLE); rc=$?
is install-exits-0 "$rc" 0
log "install: $(tail -1 <<<"$out")"
is socket-listening "$(active rigforge-api.socket)" active
is socket-enabled "$(inc systemctl is-enabled rigforge-api.socket)" enabled
is no-process-before-first-connection "$(active rigforge-api.service)/$(procs)" inactive/0
is no-timer-before-first-connection "$(active rigforge-api-probe.timer)" inactive
is no-probe-before-first-connection "$(prop rigforge-api-probe.service InvocationID)" ""
# The settings the facts call for, as systemd parsed them (not as the file spells them).
is service-no-start-limit "$(prop rigforge-api.service StartLimitIntervalUSec)" 0
is timer-no-start-limit "$(prop rigforge-api-probe.timer StartLimitIntervalUSec)" 0
has timer-explicit-accuracy "$(prop rigforge-api-probe.timer AccuracyUSec)" '^[0-9]+(ms|s)$'
has timer-bindsto-server "$(prop rigforge-api-probe.timer BindsTo)" '(^| )rigforge-api\.service( |$)'
has timer-after-server "$(prop rigforge-api-probe.timer After)" '(^| )rigforge-api\.service( |$)'
has server-wants-timer "$(prop rigforge-api.service Wants)" 'rigforge-api-probe\.timer'
log "install took $(since "$t") s"

# ---------------------------------------------------------------- first request, dynamic user, credential
t=$(date +%s.%N)
r=$(inc curl -sS -m 3 -o /dev/stdout -w '\n%{time_total}\n%{http_code}' -H "$(auth)" http://127.0.0.1:8081/2/summary 2>&1)
secs=$(tail -2 <<<"$r" | head -1); r=$(sed '$d' <<<"$r" | sed '$d'; tail -1 <<<"$r")
log "first request (cold start: systemd, dynamic user, credential, deno) answered in $secs s"
figure first-request-seconds "$secs"
is first-request-200 "$(tail -1 <<<"$r")" 200
# The connection queued in the socket started one server, and that one answered it (no failed
# start, no restart).
started() { [ "$(activations)" -ge 1 ]; }
wait_for 10 started
is first-request-started-one-server "$(activations)/$(prop rigforge-api.service NRestarts)" 1/0
has first-request-has-rigforge-block "$(body <<<"$r" | json 'sorted(d["rigforge"].keys())')" '"snapshot"'
is probe-timer-started-by-server "$(active rigforge-api-probe.timer)" active
is token-required "$(code http://127.0.0.1:8081/2/summary)" 401
is wrong-token-403 "$(code http://127.0.0.1:8081/2/summary -H 'Authorization: Bearer nope')" 403
pid=$(prop rigforge-api.service MainPID)
uid=$(inc awk '/^Uid:/{print $2}' "/proc/$pid/status" 2>/dev/null)
is service-dynamic-user-setting "$(prop rigforge-api.service DynamicUser)" yes
ok service-runs-as-dynamic-uid test "${uid:-0}" -ge 61184 -a "${uid:-0}" -le 65519
# As the service's own uid, in the service's own mount namespace: config.json is refused, and
# the credential named by the service's $CREDENTIALS_DIRECTORY holds the token.
asit() { inc nsenter -t "$pid" -m setpriv --reuid="${uid:-0}" --regid="${uid:-0}" --clear-groups "$@" 2>&1; }
has service-cannot-read-config-directly "$(asit cat /opt/rigforge/config.json)" 'Permission denied'
creddir=$(inc sh -c "tr '\\0' '\\n' < /proc/$pid/environ" | sed -n 's/^CREDENTIALS_DIRECTORY=//p')
is service-credentials-directory "$creddir" /run/credentials/rigforge-api.service
has service-reads-token-from-credential "$(asit cat "${creddir:-/nonexistent}/config")" "\"ACCESS_TOKEN\": \"$TOKEN\""
is credential-owned-by-service "$(inc stat -c %u:%a "${creddir:-/nonexistent}/config")" "${uid:-x}:400"
# Fed by the probe: the timer's OnActiveSec=0 runs a pass at once; then the snapshot is fresh.
fresh() { [ "$(get http://127.0.0.1:8081/2/summary -H "$(auth)" | body | json 'd["rigforge"]["snapshot"]["status"]')" = fresh ]; }
wait_for 10 fresh
r=$(get http://127.0.0.1:8081/2/summary -H "$(auth)")
is probe-timer-active-while-serving "$(active rigforge-api-probe.timer)" active
is snapshot-fresh-after-first-probe "$(body <<<"$r" | json 'd["rigforge"]["snapshot"]["status"]')" fresh
ok snapshot-has-generated-at test -n "$(body <<<"$r" | json 'd["generated_at"] or ""')"
# Values only the root probe can know: systemd unit states (systemctl) and the CPU count.
is rigforge-block-fed-by-probe "$(body <<<"$r" | json 'd["rigforge"]["health"]["services"]["api_socket"]')/$(body <<<"$r" | json 'd["rigforge"]["health"]["cpu"]["logical_cpus"] > 0')" active/true
is probe-ran-as-root "$(prop rigforge-api-probe.service Result)/$(prop rigforge-api-probe.service UID)" "success/[not set]"
ok no-secret-in-response test -z "$(grep -e "$TOKEN" -e "$POOLPASS" <<<"$r")"
ok no-secret-in-snapshot test -z "$(inc grep -l -e "$TOKEN" -e "$POOLPASS" /run/rigforge-api/snapshot.json)"
log "first request checks took $(since "$t") s"

# ---------------------------------------------------------------- idle exit: nothing runs
t=$(date +%s.%N)
wait_for 12 inactive rigforge-api.service
is idle-exit-clean "$(active rigforge-api.service)/$(prop rigforge-api.service Result)/$(prop rigforge-api.service ExecMainStatus)" inactive/success/0
wait_for 10 inactive rigforge-api-probe.timer
is probe-timer-stops-with-server "$(active rigforge-api-probe.timer)" inactive
# BindsTo= stopped it because the server left: the timer went inactive after the server stopped
# being active, and had been active since before that.
s_us=$(prop rigforge-api.service InactiveEnterTimestampMonotonic)
x_us=$(prop rigforge-api.service ActiveExitTimestampMonotonic)
a_us=$(prop rigforge-api-probe.timer ActiveEnterTimestampMonotonic)
t_us=$(prop rigforge-api-probe.timer InactiveEnterTimestampMonotonic)
lag_ms=$(((${t_us:-0} - ${s_us:-0}) / 1000)); log "the probe timer stopped $lag_ms ms after the server's idle exit"
figure timer-stop-lag-ms "$lag_ms"
ok probe-timer-stops-after-server-exit test "${a_us:-0}" -gt 0 -a "${a_us:-0}" -lt "${x_us:-0}" -a "${x_us:-0}" -le "${t_us:-0}"
inv1=$(prop rigforge-api-probe.service InvocationID); sleep 6   # > the 5 s probe interval
is no-probe-while-idle "$(prop rigforge-api-probe.service InvocationID)" "$inv1"
is no-process-while-idle "$(procs)" 0
is socket-still-listening-after-idle-exit "$(active rigforge-api.socket)" active
log "idle checks took $(since "$t") s"

# ---------------------------------------------------------------- first contact after an idle exit
# The snapshot the last activation left is made stale: dated 30 s back (stale after 3 × 5 s, and
# still within the 10 intervals whose counters the next pass uses for rates, so the pass does
# not sample for 1 s). The first request wakes the server and the probe timer (OnActiveSec=0):
# serve holds it for that pass (unless the pass landed before serve looked), at most 600 ms
# after its process started, and its journal line says what ended the hold; the answer must agree
# with it (the pass's snapshot arrived, or no hold: fresh and newer; the deadline: the newest
# there is, labelled for what it is). Which one happens depends on the machine's load; each is
# right. Then, with the probe blocked (a drop-in sleeps before the pass) and the snapshot 10 min
# old, the hold ends at the deadline and the answer is labelled stale. How long each took is
# printed (FIGURE lines), never gated.
t=$(date +%s.%N)
age_snapshot() { inc python3 -c 'import datetime,json,os,sys
p = "/run/rigforge-api/snapshot.json"; d = json.load(open(p))
d["generated_at"] = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=int(sys.argv[1]))).strftime("%Y-%m-%dT%H:%M:%SZ")
open(p + ".t", "w").write(json.dumps(d)); os.chmod(p + ".t", 0o644); os.rename(p + ".t", p)
print(d["generated_at"])' "$1"; }
timed_get() { inc curl -sS -m 5 -o /dev/stdout -w '\n%{time_total}\n%{http_code}' -H "$(auth)" http://127.0.0.1:8081/2/summary 2>&1; }
held_lines() { journal -u rigforge-api.service | grep 'first requests held'; }
held_count() { held_lines | wc -l; }
held_more() { [ "$(held_count)" -gt "$1" ]; }
held_after() { held_lines | sed -n "$(($1 + 1))p"; }   # held_after N: the line after the first N
held_or_gone() { held_more "$1" || inactive rigforge-api.service; }
# held_ms LINE: N of "held until N ms after the process started"; held_by LINE: fresh | deadline
held_ms() { sed -n 's/.*held until \([0-9]*\) ms after the process started.*/\1/p' <<<"$1"; }
held_by() { case "$1" in *"pass: its snapshot arrived"*) echo fresh ;; *"pass: deadline, serving older data"*) echo deadline ;; esac; }
wait_for 12 inactive rigforge-api.service
old=$(age_snapshot 30); h0=$(held_count)
r=$(timed_get); secs=$(tail -2 <<<"$r" | head -1); doc=$(sed '$d' <<<"$r" | sed '$d')
log "first contact after an idle exit (snapshot $old): answered in $secs s, snapshot $(json 'd["rigforge"]["snapshot"]["status"]' <<<"$doc") at $(json 'd["generated_at"]' <<<"$doc")"
figure first-contact-seconds "$secs"
is first-contact-200 "$(tail -1 <<<"$r")" 200
# serve logs how its hold ended before it answers. No line by its idle exit (and a bounded wait
# for the journal): it did not hold, having found the pass's snapshot already there at its start
# (under load the pass can land before serve's code runs).
wait_for 12 held_or_gone "$h0"; held_more "$h0" || wait_for 3 held_more "$h0"
line=$(held_after "$h0"); log "serve: $(sed 's/.*rigforge-api serve: //' <<<"${line:-(no hold)}")"
by=$(held_by "$line"); [ -z "$line" ] && by=none
[ "$by" = none ] || figure first-contact-hold-ms "$(held_ms "$line")"
# What ended the hold decides the answer. The pass's snapshot (or no hold: it was there at the
# start): that one, fresh and newer than the old one. The deadline: the newest snapshot in the
# file when the answer is built, labelled for what it is: the old one, stale, or (when the pass
# landed between the hold's end and the answer, as it can under load) the pass's, fresh and
# newer. Never a label that contradicts the data.
got=$(json 'd["rigforge"]["snapshot"]["status"]' <<<"$doc")/$([ "$(json 'd["generated_at"]' <<<"$doc")" = "$old" ] && echo old || echo newer)
case "$by" in
  fresh | none) want=fresh/newer ;;
  deadline) want=$([ "$got" = fresh/newer ] && echo fresh/newer || echo stale/old) ;;
  *) want="a hold line naming what ended it" ;;
esac
is first-contact-status-agrees-with-hold "$got" "$want"
# The figures behind it: when the pass's snapshot landed, counted from the server's start.
wait_for 5 inactive rigforge-api-probe.service
srv_us=$(mono_us rigforge-api.service ExecMainStartTimestampMonotonic)
prb_us=$(mono_us rigforge-api-probe.service ExecMainExitTimestampMonotonic)
pass_ms=$(((${prb_us:-0} - ${srv_us:-0}) / 1000)); figure first-contact-pass-ended-ms "$pass_ms"
log "the pass this activation started ended $pass_ms ms after the server started (probe_ms $(inc cat /run/rigforge-api/snapshot.json | json 'd["probe_ms"]'))"
wait_for 12 inactive rigforge-api.service
inc mkdir -p /run/systemd/system/rigforge-api-probe.service.d
inc sh -c 'printf "[Service]\nExecStartPre=/bin/sleep 30\n" > /run/systemd/system/rigforge-api-probe.service.d/block.conf'
inc systemctl daemon-reload
old=$(age_snapshot 600); h0=$(held_count)
r=$(timed_get); secs=$(tail -2 <<<"$r" | head -1); doc=$(sed '$d' <<<"$r" | sed '$d')
log "first contact with the probe blocked: answered in $secs s, snapshot $(json 'd["rigforge"]["snapshot"]["status"]' <<<"$doc")"
figure blocked-probe-seconds "$secs"
is blocked-probe-200 "$(tail -1 <<<"$r")" 200
is blocked-probe-labelled-stale "$(json 'd["rigforge"]["snapshot"]["status"]' <<<"$doc")" stale
is blocked-probe-serves-the-old-values "$(json 'd["generated_at"]' <<<"$doc")/$(json 'd["rigforge"]["health"]["cpu"]["logical_cpus"] > 0' <<<"$doc")" "$old/true"
wait_for 10 held_more "$h0"; line=$(held_after "$h0"); log "serve: $(sed 's/.*rigforge-api serve: //' <<<"$line")"
figure blocked-probe-hold-ms "$(held_ms "$line")"
has blocked-probe-hold-logged "$line" 'first requests held until [0-9]+ ms after the process started'
# Ended by the deadline (600 ms after the process started), not before it: load only makes it later.
is blocked-probe-hold-ended-at-deadline "$(held_by "$line")/$(awk -v n="$(held_ms "$line")" 'BEGIN{print (n >= 600 ? "at-or-after-600" : n)}')" deadline/at-or-after-600
inc rm -rf /run/systemd/system/rigforge-api-probe.service.d
inc systemctl daemon-reload
inc systemctl stop rigforge-api-probe.service
log "first-contact checks took $(since "$t") s"

# ---------------------------------------------------------------- re-activation under bursts
t=$(date +%s.%N)
n0=$(activations)
is reactivation-answers "$(code http://127.0.0.1:8081/health -H "$(auth)")" 200
is timer-restarts-on-reactivation "$(active rigforge-api-probe.timer)" active
# Bursts of 5 whose gaps (after the previous burst's answers) land just before, in and just
# after the idle exit: the server is running, exiting (no longer accepting) or gone.
burst=$(inc python3 /opt/rigforge-api/tests/systemd/burst.py 8081 "$TOKEN" 5 $IDLE 0.1 2.9 3.05 3.2 2.95)
starts=$(($(activations) - n0))
log "bursts around the idle exit: $burst ($starts activations)"
has reactivation-burst-no-lost-connection "$burst" '^ok=30 fail=0 '
ok burst-spanned-several-activations test "$starts" -ge 3
is socket-not-failed-after-bursts "$(active rigforge-api.socket)" active
is served-after-bursts "$(code http://127.0.0.1:8081/health -H "$(auth)")" 200
log "re-activation took $(since "$t") s"

# ---------------------------------------------------------------- fastest idle exit: no client pattern closes the port
t=$(date +%s.%N)
out=$(install_api --idle-exit 2); rc=$?
is reinstall-idle-exit-2 "$rc" 0
wait_for 10 inactive rigforge-api.service
n0=$(activations)
# 8 bursts of 3, each just past the 2 s idle exit after the previous answers: every burst meets a
# server that is exiting or gone, so nearly every burst is a new activation (and a new start of
# the probe timer and a probe pass) as fast as the smallest idle exit allows. (Gaps right at 2.0 s
# race the exit and may or may not activate: the burst above covers that window.)
burst=$(inc python3 /opt/rigforge-api/tests/systemd/burst.py 8081 "$TOKEN" 3 0 2.2 2.25 2.15 2.3 2.2 2.18 2.35)
starts=$(($(activations) - n0))
log "worst-case pattern at --idle-exit 2: $burst ($starts activations in $(since "$t") s)"
has fast-idle-bursts-no-lost-connection "$burst" '^ok=24 fail=0 '
ok fast-idle-bursts-many-activations test "$starts" -ge 5
is fast-idle-socket-still-listening "$(active rigforge-api.socket)/$(prop rigforge-api.socket Result)" active/success
is fast-idle-server-never-start-limited "$(prop rigforge-api.service Result)/$(prop rigforge-api.service NRestarts)" success/0
ok fast-idle-probe-not-start-limited test "$(prop rigforge-api-probe.service Result)" != start-limit-hit -a "$(prop rigforge-api-probe.timer Result)" != start-limit-hit
is served-after-fast-idle-bursts "$(code http://127.0.0.1:8081/health -H "$(auth)")" 200
log "fast idle exit took $(since "$t") s"

# ---------------------------------------------------------------- config gone at run time: status 243
# The units retry a failed server every RestartSec (5 s) without a start limit, so the socket
# is never failed by it: requests wait (and time out) until the config is back, then it heals.
t=$(date +%s.%N)
out=$(install_api --idle-exit $IDLE)
wait_for 12 inactive rigforge-api.service
inc mv /opt/rigforge/config.json /opt/rigforge/config.json.away
r=$(get http://127.0.0.1:8081/health -H "$(auth)")
is config-missing-status-243 "$(prop rigforge-api.service ExecMainStatus)" 243
has config-missing-request-times-out "$r" 'timed out'
has config-missing-journal-says-credentials "$(journal -u rigforge-api.service | tail -20)" 'Failed to set up credentials'
sleep 4
log "config missing: socket $(active rigforge-api.socket) ($(prop rigforge-api.socket Result)), server $(active rigforge-api.service) ($(prop rigforge-api.service SubState), $(prop rigforge-api.service NRestarts) restarts)"
is config-missing-socket-not-failed "$(active rigforge-api.socket)" active
ok config-missing-retries-paced test "$(prop rigforge-api.service NRestarts)" -le 2
inc mv /opt/rigforge/config.json.away /opt/rigforge/config.json
healed() { [ "$(code http://127.0.0.1:8081/health -H "$(auth)")" = 200 ]; }
wait_for 12 healed
is config-restored-self-heals "$(code http://127.0.0.1:8081/health -H "$(auth)")" 200
log "config-missing scenario took $(since "$t") s"

# ---------------------------------------------------------------- allow-list (BPF) and doctor
t=$(date +%s.%N)
inc ip addr add 10.9.0.1/32 dev lo; inc ip addr add 10.8.0.1/32 dev lo
out=$(install_api --idle-exit $IDLE --allow-from 10.9.0.0/24); rc=$?
is install-with-allow-list "$rc" 0
is allowed-source-served "$(code http://10.9.0.1:8081/health -H "$(auth)" --interface 10.9.0.1)" 200
is loopback-always-allowed "$(code http://127.0.0.1:8081/health -H "$(auth)")" 200
wait_for 12 inactive rigforge-api.service
inv0=$(prop rigforge-api.service InvocationID)
denied=$(inc curl -sS -m 2 -o /dev/null -w '%{http_code}' --interface 10.8.0.1 http://10.9.0.1:8081/health 2>&1)
has denied-source-dropped "$denied" 'timed out'
is denied-source-does-not-activate "$(prop rigforge-api.service InvocationID)/$(active rigforge-api.service)" "$inv0/inactive"
has bpf-accounting-signal-is-a-number "$(prop rigforge-api.socket IPIngressBytes)" '^[0-9]+$'
doctor=$(rfapi doctor --json --rigforge-home /opt/rigforge 2>/dev/null)
scope=$(json '[c for c in d["checks"] if c["id"]=="api-ip-scope"][0]["status"]' <<<"$doctor")
is doctor-reports-scope-enforced "$scope" ok
log "allow-list took $(since "$t") s"

# ---------------------------------------------------------------- re-install with a new port rebinds
out=$(install_api --idle-exit $IDLE --allow-from 10.9.0.0/24 --port 9181); rc=$?
is reinstall-new-port "$rc" 0
is new-port-serves "$(code http://127.0.0.1:9181/health -H "$(auth)")" 200
is old-port-closed "$(code http://127.0.0.1:8081/health)" 000
is old-port-not-listening "$(inc ss -Htln 'sport = :8081' | wc -l)" 0
out=$(install_api --idle-exit $IDLE --allow-from 10.9.0.0/24 --port 9181)
has reinstall-same-is-noop "$out" 'nothing to do'

# ---------------------------------------------------------------- reboot brings the socket back
t=$(date +%s.%N)
poweroff; boot
is socket-back-after-reboot "$(active rigforge-api.socket)" active
is nothing-runs-after-reboot "$(active rigforge-api.service)/$(active rigforge-api-probe.timer)/$(procs)" inactive/inactive/0
is served-after-reboot "$(code http://127.0.0.1:9181/health -H "$(auth)")" 200

# ---------------------------------------------------------------- without BPF: not enforced, and doctor says so
poweroff; boot nobpf
inc ip addr add 10.9.0.1/32 dev lo; inc ip addr add 10.8.0.1/32 dev lo
is nobpf-socket-back "$(active rigforge-api.socket)" active
is nobpf-denied-source-not-dropped "$(inc curl -sS -m 3 -o /dev/null -w '%{http_code}' --interface 10.8.0.1 http://10.9.0.1:9181/health 2>&1)" 401
is nobpf-accounting-signal-no-data "$(prop rigforge-api.socket IPIngressBytes)" "[no data]"
doctor=$(rfapi doctor --json --rigforge-home /opt/rigforge 2>/dev/null)
scope=$(json '[c for c in d["checks"] if c["id"]=="api-ip-scope"][0]["status"]' <<<"$doctor")
is doctor-reports-scope-not-enforced "$scope" issue
log "reboots took $(since "$t") s"

# ---------------------------------------------------------------- uninstall leaves nothing
code http://127.0.0.1:9181/health -H "$(auth)" >/dev/null   # a running server and timer to stop
out=$(rfapi uninstall 2>&1); rc=$?
is uninstall-exits-0 "$rc" 0
is uninstall-no-unit-files "$(inc sh -c 'find /etc/systemd/system -name "rigforge-api*" | wc -l')" 0
is uninstall-no-loaded-units "$(inc systemctl list-units --all --no-legend 'rigforge-api*' | wc -l)" 0
is uninstall-no-process "$(procs)" 0
is uninstall-no-runtime-dir "$(inc sh -c 'ls -d /run/rigforge-api 2>/dev/null | wc -l')" 0
is uninstall-port-closed "$(code http://127.0.0.1:9181/health)" 000
ok uninstall-keeps-config inc test -f /opt/rigforge/config.json

if [ "$FAIL" -gt 0 ]; then
  log "journal of the rigforge-api units (last 60 lines):"
  journal -u 'rigforge-api*' | tail -60 >&2
fi
poweroff
log "total $(since "$T0") s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
