#!/usr/bin/env bash
# Start a single-node SLURM cluster on this host (Debian slurm-wlm + munge; run as root), with
# two (fake) GPUs declared as a generic resource so GPU requests are scheduled.
#
#   tests/slurm/start.sh [STATE_DIR]      # default /tmp/glmeval-slurm
#   export SLURM_CONF=STATE_DIR/slurm.conf   # for sbatch/squeue/snakemake
#   tests/slurm/stop.sh [STATE_DIR]
#
# The configuration is linked to /etc/slurm/ (where job steps look for it) when that is free.
#
# Partitions: `cpu` (default) and `gpu`. Accounting is off, so the profile must use
# `slurm-status-command: squeue` (finished jobs stay visible for MinJobAge seconds).
# Everything (config, spool, logs, pid files) lives in STATE_DIR; stop.sh kills exactly the
# daemons recorded there.
set -euo pipefail
state="${1:-/tmp/glmeval-slurm}"
for bin in slurmctld slurmd munged sinfo; do
    command -v "$bin" >/dev/null || { echo "start.sh: $bin not found; apt-get install slurmctld slurmd slurm-client munge" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "start.sh: run as root (slurmd manages jobs of any user)" >&2; exit 2; }
mkdir -p "$state"/{ctld,spool,log}
: > "$state/started"   # the daemons this script started, one "name pid" per line

# munge: authenticates every SLURM message; reuse a running munged, else start one
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || create-munge-key -f; }
    mkdir -p /run/munge && chown munge:munge /run/munge
    su -s /bin/bash munge -c "/usr/sbin/munged --pid-file=/run/munge/munged.pid"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    echo "munged $(cat /run/munge/munged.pid)" >> "$state/started"
fi

cpus=$(getconf _NPROCESSORS_ONLN)  # not nproc, which follows OMP_NUM_THREADS
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
cat > "$state/slurm.conf" <<CONF
ClusterName=glmeval
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
DefMemPerCPU=1000
GresTypes=gpu
NodeName=localhost NodeHostname=$(hostname) CPUs=$cpus RealMemory=$memory_mb Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP
CONF
touch "$state/gpu0" "$state/gpu1"   # stand-ins for /dev/nvidia*: SLURM only tracks the names
cat > "$state/gres.conf" <<CONF
AutoDetect=off
NodeName=localhost Name=gpu File=$state/gpu[0-1]
CONF
export SLURM_CONF="$state/slurm.conf"
# job steps (srun inside a job) read the default location, not $SLURM_CONF: link it there
# unless this host already has a SLURM configuration
if [ ! -e /etc/slurm/slurm.conf ]; then
    mkdir -p /etc/slurm
    ln -s "$state/slurm.conf" /etc/slurm/slurm.conf
    ln -s "$state/gres.conf" /etc/slurm/gres.conf
    echo "link /etc/slurm/slurm.conf" >> "$state/started"
    echo "link /etc/slurm/gres.conf" >> "$state/started"
fi

/usr/sbin/slurmctld -f "$SLURM_CONF"
for _ in $(seq 100); do [ -s "$state/slurmctld.pid" ] && break; sleep 0.1; done
echo "slurmctld $(cat "$state/slurmctld.pid")" >> "$state/started"
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 100); do [ -s "$state/slurmd.pid" ] && break; sleep 0.1; done
echo "slurmd $(cat "$state/slurmd.pid")" >> "$state/started"

# wait until the node takes jobs
for _ in $(seq 120); do
    node=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1)
    case "$node" in
        idle*) echo "SLURM up: SLURM_CONF=$SLURM_CONF ($cpus CPUs, $memory_mb MB, 2 GPUs)"; exit 0 ;;
        drain*|inval*|down*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
done
echo "start.sh: node never became idle (state: ${node:-unknown}); see $state/log/" >&2
exit 1
