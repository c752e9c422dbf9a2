#!/usr/bin/env bash
# `make demo`: the whole system on one machine, step by step. Creates a throwaway CA and
# certificates, starts ijrd on loopback, uploads a busybox rootfs, runs an isolated job with
# CPU, memory and pids limits, shows the job list and status, then shuts everything down.
# Runs from the compiled binaries in dist/ when they exist, from source otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
DENO=${DENO:-$REPO/.tools/bin/deno}
DEMO=$REPO/.demo

bold=$'\033[1m'; dim=$'\033[2m'; reset=$'\033[0m'
[ -t 1 ] || { bold=; dim=; reset=; }
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; }

if [ "$(id -u)" != 0 ]; then
  echo "make demo: run as root (ijrd creates namespaces, mounts and cgroups)" >&2
  exit 1
fi

step "prerequisites"
if ! command -v busybox >/dev/null || ! busybox --list >/dev/null 2>&1; then
  echo "installing busybox-static (apt-get)"
  apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null
fi
BUSYBOX=$(command -v busybox)
echo "deno: $("$DENO" --version | head -n1)"
if [ -x "$REPO/dist/ijrd" ] && [ -x "$REPO/dist/ijrctl" ]; then
  IJRD=("$REPO/dist/ijrd"); IJRCTL=("$REPO/dist/ijrctl")
  echo "using the compiled binaries in dist/"
else
  IJRD=("$DENO" run "--v8-flags=$("$DENO" run --quiet "$REPO/lib/daemon/v8_flags.ts")" -A --quiet "$REPO/daemon.ts"); IJRCTL=("$DENO" run -A --quiet "$REPO/ctl.ts")
  echo "no binaries in dist/ (make build needs DENORT_BIN): running from source"
fi
ijrctl() { show "ijrctl $*"; "${IJRCTL[@]}" "$@"; }

DAEMON_PID=
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$DEMO"
}
trap cleanup EXIT
rm -rf "$DEMO" && mkdir -p "$DEMO"
PORT=$("$DENO" eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();')

step "create a CA, a server certificate and an admin certificate (no openssl)"
ijrctl certs init --dir "$DEMO/certs" --address "localhost:$PORT"
export IJR_CONFIG=$DEMO/certs/config.json

step "start ijrd on 127.0.0.1:$PORT (TLS 1.3, client certificates required)"
show "ijrd --server localhost --port $PORT --listen 127.0.0.1 --cert ... --key ... --ca ... --rootfs $DEMO/rootfs --state $DEMO/state"
"${IJRD[@]}" --server localhost --port "$PORT" --listen 127.0.0.1 \
  --cert "$DEMO/certs/server.crt" --key "$DEMO/certs/server.key" --ca "$DEMO/certs/ca.crt" \
  --rootfs "$DEMO/rootfs" --state "$DEMO/state" --cgroup-parent "ijr-demo-$$" 2>"$DEMO/ijrd.log" &
DAEMON_PID=$!
for _ in $(seq 100); do
  grep -q '"msg":"listening"' "$DEMO/ijrd.log" 2>/dev/null && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$DEMO/ijrd.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '"msg":"listening"' "$DEMO/ijrd.log" || { echo "ijrd did not start" >&2; cat "$DEMO/ijrd.log" >&2; exit 1; }
echo "ijrd is listening (pid $DAEMON_PID)"

step "build a busybox root file system tarball"
ROOT=$DEMO/busybox-rootfs
mkdir -p "$ROOT"/{bin,dev,etc,proc,root,sys,tmp}
chmod 1777 "$ROOT/tmp"
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf /bin/busybox "$ROOT/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOT/etc/passwd"
tar -C "$ROOT" --numeric-owner -czf "$DEMO/busybox.tar.gz" .
echo "$DEMO/busybox.tar.gz: $(du -h "$DEMO/busybox.tar.gz" | cut -f1)"

step "upload it"
ijrctl rootfs upload --file="$DEMO/busybox.tar.gz" --name=busybox
ijrctl rootfs list

step "start a job with limits, streaming its output (--output)"
JOB_SCRIPT='echo "hostname:   $(hostname)"; echo "my pid:     $$"; echo "ls /:       $(ls / | xargs)"; echo "interfaces: $(ls /sys/class/net | xargs)"; echo "processes:  $(ps -o pid,comm | tail -n +2 | xargs)"; for i in 1 2 3; do echo "working... $i"; sleep 1; done'
show "ijrctl job start --rootfs=busybox --cpu=512 --memory=64m --pids=100 --output -- sh -c '...'"
set +e
"${IJRCTL[@]}" job start --rootfs=busybox --cpu=512 --memory=64m --pids=100 --output -- sh -c "$JOB_SCRIPT" | tee "$DEMO/job.out"
JOB_STATUS=${PIPESTATUS[0]}
set -e
JOB_ID=$(head -n1 "$DEMO/job.out")
echo "ijrctl exited with the job's status: $JOB_STATUS"

step "start a job and wait for its end in one call (--wait), exiting with its status"
show "ijrctl job start --rootfs=busybox --wait -- sh -c 'exit 3'"
set +e
"${IJRCTL[@]}" job start --rootfs=busybox --wait -- sh -c 'exit 3'
WAIT_STATUS=$?
set -e
echo "ijrctl exited with the job's status: $WAIT_STATUS"

step "list all jobs, and the finished job's status"
ijrctl job list --all
ijrctl job status "$JOB_ID"

step "shut ijrd down (SIGTERM)"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" && echo "ijrd exited 0"
DAEMON_PID=
echo
echo "request log (one JSON line per request):"
grep '"method"' "$DEMO/ijrd.log" | head -n 5
echo "..."
[ "$JOB_STATUS" = 0 ] || { echo "the demo job failed" >&2; exit 1; }
[ "$WAIT_STATUS" = 3 ] || { echo "job start --wait exited $WAIT_STATUS, not the job's 3" >&2; exit 1; }
echo
echo "${bold}demo complete${reset}: everything it created has been removed."
