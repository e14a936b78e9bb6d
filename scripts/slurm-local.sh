#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for test/slurm.test.ts and for trying `npm run sweep -- --slurm`
# without a cluster: Debian's slurmctld, slurmd and munge (installed with apt when missing, as root), configured
# for this one host (its real CPU count and memory as `slurmd -C` reports them), with no cgroups
# (proctrack/linuxproc, task/none), no accounting, and every file (config, munge key and socket, state, spool,
# logs, pid files) in one folder DIR, so nothing under /etc is read or written after the install. The daemons are
# started directly (no systemd). Clients reach this cluster only through SLURM_CONF=DIR/slurm.conf, which `start`
# prints.
set -uo pipefail
usage() {
  cat <<'EOF_USAGE'
usage: bash scripts/slurm-local.sh start|stop|status DIR

Starts (or stops) a single-node Slurm cluster of this machine whose files all live in DIR.

commands:
  start DIR    install what is missing of slurmctld slurmd slurm-client munge (apt-get, root only; a second run
               installs nothing), write DIR/slurm.conf, start munged, slurmctld and slurmd, wait until the node
               is idle, and print the line `export SLURM_CONF=DIR/slurm.conf`
  stop DIR     cancel the cluster's jobs, stop the three daemons started from DIR (by their pid files), wait for
               them to exit; safe to call twice or after a failed start
  status DIR   print the node's state (sinfo) and the queue (squeue)

flags:
  -h, --help   print this help and exit

environment:
  TVQ_SLURM_PORT   the slurmctld port (slurmd uses the next one); default: a free port

exit codes: 0 done, 1 a step failed (the message names it and the log in DIR), 2 a bad command line, 3 not root
or no apt-get (the packages cannot be installed; the message says so)

example:
  bash scripts/slurm-local.sh start /tmp/slurm && export SLURM_CONF=/tmp/slurm/slurm.conf && sinfo
EOF_USAGE
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
esac
CMD="${1:-}"
DIR="${2:-}"
if [ $# -ne 2 ] || { [ "$CMD" != start ] && [ "$CMD" != stop ] && [ "$CMD" != status ]; }; then
  echo "slurm-local: expected start|stop|status and a folder, got: $*" >&2
  echo "usage: bash scripts/slurm-local.sh start|stop|status DIR   (--help for more)" >&2
  exit 2
fi
mkdir -p "$DIR" && DIR="$(cd "$DIR" && pwd)" || { echo "slurm-local: cannot create the folder $DIR" >&2; exit 1; }
PACKAGES=(slurmctld slurmd slurm-client munge)
export SLURM_CONF="$DIR/slurm.conf"

die() { echo "slurm-local: $*" >&2; exit 1; }

# The pid in DIR/<name>.pid when that process still runs.
live_pid() {
  local f="$DIR/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_daemon() {
  local name="$1" pid i
  pid="$(live_pid "$name")" || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "slurm-local: $name (pid $pid) did not stop on SIGTERM within 10 s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null
}

cmd_stop() {
  if live_pid slurmctld >/dev/null && command -v scancel >/dev/null; then
    # running tasks would outlive slurmd (slurmstepd is its own process): cancel them first
    timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1
    for _ in $(seq 1 50); do
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  stop_daemon slurmd
  stop_daemon slurmctld
  stop_daemon munged
  echo "slurm-local: stopped the cluster of $DIR"
}

cmd_status() {
  sinfo -N -l && squeue
}

install_missing() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "slurm-local: ${missing[*]} not installed and not root; install them as root: apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 3
  fi
  command -v apt-get >/dev/null || { echo "slurm-local: ${missing[*]} not installed and no apt-get on this machine" >&2; exit 3; }
  echo "slurm-local: installing ${missing[*]} (apt-get --no-install-recommends)"
  # No init system here: keep the packages' maintainer scripts from starting their own daemons on /etc files.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$DIR/apt.log" 2>&1; then
    if ! { apt-get update >>"$DIR/apt.log" 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >>"$DIR/apt.log" 2>&1; }; then
      [ $made_policy = 1 ] && rm -f "$policy"
      die "apt-get install ${missing[*]} failed; see $DIR/apt.log"
    fi
  fi
  [ $made_policy = 1 ] && rm -f "$policy"
  return 0
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_for() { # seconds, description, command...
  local secs="$1" what="$2" i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

cmd_start() {
  install_missing
  for d in slurmctld slurmd munged; do
    live_pid "$d" >/dev/null && die "$d of $DIR already runs (pid $(live_pid "$d")); stop it first: bash scripts/slurm-local.sh stop $DIR"
  done
  mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" || die "cannot create the folders under $DIR"
  chmod 700 "$DIR/munge"
  # munge: a private key, socket and log under DIR (munged checks that no one else can write there)
  if [ ! -s "$DIR/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"$DIR/munge/munge.key" && chmod 400 "$DIR/munge/munge.key" || die "cannot write the munge key"
  fi
  munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munge.seed" \
    >>"$DIR/munged.log" 2>&1 || die "munged did not start; see $DIR/munged.log"
  wait_for 10 munge test -S "$DIR/munge/munge.socket" || die "munged made no socket; see $DIR/munged.log"

  local host port node name
  host="$(hostname -s)"
  port="${TVQ_SLURM_PORT:-$(free_port)}"
  # this host's real CPUs, sockets, cores, threads and memory; the UpTime line is not a config line
  node="$(slurmd -C 2>/dev/null | grep '^NodeName=')" || die "slurmd -C did not describe this node"
  name="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node")"
  cat >"$DIR/slurm.conf.tmp" <<EOF_CONF
# written by scripts/slurm-local.sh: one node, this host; no cgroups, no accounting; files under $DIR
ClusterName=tvqlocal
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF_CONF
  mv "$DIR/slurm.conf.tmp" "$SLURM_CONF"

  slurmctld -i -f "$SLURM_CONF" >>"$DIR/slurmctld.log" 2>&1 || die "slurmctld did not start; see $DIR/slurmctld.log"
  wait_for 20 slurmctld scontrol ping || die "slurmctld does not answer (scontrol ping); see $DIR/slurmctld.log"
  slurmd -f "$SLURM_CONF" >>"$DIR/slurmd.log" 2>&1 || die "slurmd did not start; see $DIR/slurmd.log"
  node_idle() { sinfo -h -N -o %T | grep -qx idle; }
  wait_for 30 "the node" node_idle || die "the node is not idle after 30 s ($(sinfo -h -N -o %T)); see $DIR/slurmd.log and $DIR/slurmctld.log"
  echo "slurm-local: cluster up ($(sinfo -h -N -o '%N %c CPUs %m MB')); port $port; files in $DIR"
  echo "export SLURM_CONF=$SLURM_CONF"
}

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
esac
