#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/test_slurm.py (`make test-slurm`): Debian's
# slurm-wlm and munge, installed with apt-get when missing, configured for this host only.
#
#   scripts/slurm_cluster.sh start    install if missing, write the config, start munged, slurmctld
#                                     and slurmd, wait until the node is idle (prints SLURM_CONF=...)
#   scripts/slurm_cluster.sh stop     cancel the cluster's jobs, stop the daemons, remove the folder
#   scripts/slurm_cluster.sh status   sinfo and squeue of the cluster
#
# Everything it writes lives in one folder, $KNEWIMP_SLURM_DIR (default /tmp/knewimp-slurm): the
# slurm.conf, the munge key and socket, the daemons' state, spool and logs; nothing goes to /etc,
# and no service is enabled. Clients (sinfo, sbatch, submitit) find the cluster through
# SLURM_CONF=$KNEWIMP_SLURM_DIR/slurm.conf. The ports (16817, 16818) are not Slurm's defaults, so
# a real Slurm on the same host is left alone. Proctrack and task plugins need no cgroups, so it
# runs in a container.
#
# Exit codes: 0 done; 3 Slurm cannot be installed here (no apt-get, or neither root nor
# passwordless sudo): the one reason the test skips; anything else is a failure.
set -euo pipefail

DIR=${KNEWIMP_SLURM_DIR:-/tmp/knewimp-slurm}
PARTITION=${KNEWIMP_SLURM_PARTITION:-debug}
PORT=${KNEWIMP_SLURM_PORT:-16817}   # slurmctld; slurmd listens on the next port
export PATH="$PATH:/usr/sbin:/sbin"
export SLURM_CONF="$DIR/slurm.conf"

die() { echo "slurm_cluster: $1" >&2; exit "${2:-1}"; }

# The daemons and apt-get need root: a non-root user with passwordless sudo (as on CI runners)
# runs this script again through sudo; jobs still run as the user who submits them.
if [[ $EUID -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n env KNEWIMP_SLURM_DIR="$DIR" KNEWIMP_SLURM_PARTITION="$PARTITION" \
      KNEWIMP_SLURM_PORT="$PORT" PATH="$PATH" "$0" "$@"
  fi
  [[ ${1:-} == stop ]] && [[ ! -e $DIR ]] && exit 0
  die "needs root or passwordless sudo to install and start Slurm (running as $(id -un))" 3
fi

installed() { command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged; } >/dev/null

install() {
  installed && return 0
  command -v apt-get >/dev/null || die "slurm-wlm and munge are not installed and there is no apt-get to install them" 3
  echo "slurm_cluster: installing slurm-wlm and munge with apt-get" >&2
  # Packages install without starting their services (munged on the system key, slurmd with no
  # config): a policy-rc.d that refuses every start, unless the machine already has one.
  local policy=/usr/sbin/policy-rc.d added=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  # CI machines may still be running their own apt at boot: wait for its lock, not fail on it.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  [[ -n $added ]] && rm -f "$policy" && trap - EXIT
  installed || die "apt-get installed slurm-wlm and munge but slurmctld, slurmd, sbatch or munged is not on PATH"
}

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -N -p "$PARTITION" -o %t 2>/dev/null | head -n1; }

write_config() {
  local node host
  # slurmd -C reports this host as Slurm sees it (its name, CPUs, sockets, cores, threads,
  # RealMemory), so slurmd finds itself in the config and never drains for claiming more than it has.
  node=$(slurmd -C | head -n1)
  [[ $node == NodeName=* ]] || die "slurmd -C did not describe this host: $node"
  host=${node%% *}
  host=${host#NodeName=}
  cat >"$SLURM_CONF" <<EOF
# Written by scripts/slurm_cluster.sh: a one-node cluster on $host, in $DIR.
ClusterName=knewimp
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
${node/NodeName=$host/NodeName=$host NodeAddr=127.0.0.1} State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  install
  if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && [[ $(node_state) == idle* ]]; then
    echo "SLURM_CONF=$SLURM_CONF"; return 0
  fi
  [[ -e $DIR ]] && stop
  mkdir -p "$DIR"/{munge,state,spool,log}
  chmod 755 "$DIR" "$DIR/munge"
  dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$DIR/munge/munge.key"
  munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
    || die "munged did not start: $(tail -n3 "$DIR/log/munged.log" 2>/dev/null)"
  write_config
  slurmctld -i || die "slurmctld did not start: $(tail -n5 "$DIR/log/slurmctld.log" 2>/dev/null)"
  slurmd || die "slurmd did not start: $(tail -n5 "$DIR/log/slurmd.log" 2>/dev/null)"
  local state=""
  for _ in $(seq 60); do
    state=$(node_state)
    [[ $state == idle* ]] && { echo "SLURM_CONF=$SLURM_CONF"; return 0; }
    sleep 1
  done
  die "the node is not idle after 60 s (state: ${state:-none}); logs in $DIR/log: $(tail -n5 "$DIR/log/slurmd.log" 2>/dev/null)"
}

stop_daemon() {  # pid file: TERM, then KILL after 15 s
  local pid
  [[ -s $1 ]] || return 0
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  [[ -e $DIR ]] || return 0
  if alive "$DIR/slurmctld.pid"; then
    # Cancelled jobs end with their steps (slurmstepd), which outlive a stopped slurmd otherwise.
    scancel --full --partition="$PARTITION" 2>/dev/null || true
    for _ in $(seq 30); do [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break; sleep 1; done
  fi
  stop_daemon "$DIR/slurmd.pid"
  stop_daemon "$DIR/slurmctld.pid"
  stop_daemon "$DIR/munge/munged.pid"
  rm -rf "$DIR"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) sinfo; squeue ;;
  *) die "usage: $0 start|stop|status" 2 ;;
esac
