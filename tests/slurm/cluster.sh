#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the workflow's SLURM test (tests/test_pipelines_slurm.py).
#
#   bash tests/slurm/cluster.sh start DIR   # start munged, MariaDB, slurmdbd, slurmctld, slurmd; config in DIR
#   bash tests/slurm/cluster.sh stop DIR    # stop them
#
# Needs root and Debian's packages slurm-wlm, slurmdbd, munge, mariadb-server (.ci/run installs them).
# Everything it writes lives in DIR (config, state, spool, logs, the database files); /etc is not touched
# except for the munge key (munged reads it from /etc/munge) and a link /etc/slurm/slurm.conf -> DIR/slurm.conf
# (job steps read the configuration from the default path). Clients find the cluster through
# SLURM_CONF=DIR/slurm.conf. Accounting goes through slurmdbd into MariaDB, so `sacct` works as the
# Snakemake SLURM executor needs. Prints `ok` and exits 0 once `sinfo` shows the node idle; exits 1 with
# the failing daemon's log otherwise.
set -euo pipefail
cmd=${1:?usage: cluster.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: cluster.sh start|stop DIR}" && cd "$2" && pwd)
host=$(hostname -s)
export SLURM_CONF="$dir/slurm.conf"

stop() {
    for f in slurmd slurmctld slurmdbd mariadb munged; do
        if [ -f "$dir/$f.pid" ]; then kill "$(cat "$dir/$f.pid")" 2>/dev/null || true; rm -f "$dir/$f.pid"; fi
    done
}

fail() { echo "slurm test cluster: $1" >&2; [ -f "$2" ] && tail -n 20 "$2" >&2; stop; exit 1; }

wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
    local t=$1; shift
    for _ in $(seq $((t * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    return 1
}

if [ "$cmd" = stop ]; then stop; echo stopped; exit 0; fi
[ "$cmd" = start ] || { echo "usage: cluster.sh start|stop DIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "slurm test cluster: needs root" >&2; exit 1; }
for b in munged mariadbd slurmdbd slurmctld slurmd sacctmgr; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || { echo "slurm test cluster: $b not installed" >&2; exit 1; }
done
stop
mkdir -p "$dir"/{state,spool,log,db,munge} /run/munge
# the munge and mysql users must reach their files (mktemp -d and pytest make 0700 folders)
chmod 0755 "$dir"
p="$dir"; while [ "$p" != / ]; do p=$(dirname "$p"); [ -O "$p" ] && chmod o+x "$p"; done

# munge: one key for this machine (created if absent), daemon as the munge user
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key /run/munge "$dir/munge"; touch "$dir/log/munged.log"; chown munge:munge "$dir/log/munged.log"; chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" || fail "munged did not start" "$dir/log/munged.log"
cp "$dir/munge/munged.pid" "$dir/munged.pid"
wait_for 10 munge -n || fail "munge does not answer" "$dir/log/munged.log"

# MariaDB for slurmdbd, data in DIR/db, on a socket only (no TCP port). slurmdbd 22.05 connects through the
# default socket path, so the socket lives there.
sock=/run/mysqld/mysqld.sock
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
chown -R mysql:mysql "$dir/db"
if [ ! -d "$dir/db/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$dir/db/data" --auth-root-authentication-method=socket \
        >"$dir/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed" "$dir/log/mariadb-install.log"
    touch "$dir/db/mysql"
fi
/usr/sbin/mariadbd --user=mysql --datadir="$dir/db/data" --socket="$sock" --skip-networking \
    --pid-file="$dir/db/mariadb.pid" --log-error="$dir/db/mariadb.log" &
echo $! >"$dir/mariadb.pid"
wait_for 60 mariadb --socket="$sock" -e "SELECT 1" || fail "MariaDB did not start" "$dir/db/mariadb.log"
mariadb --socket="$sock" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
cpus=$(nproc)
cat >"$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmci
CONF
chmod 600 "$dir/slurmdbd.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=fmslabci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
JobCompType=jobcomp/none
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmdTimeout=60
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

/usr/sbin/slurmdbd || fail "slurmdbd did not start" "$dir/log/slurmdbd.log"
wait_for 30 sacctmgr -i list cluster || fail "slurmdbd does not answer" "$dir/log/slurmdbd.log"
sacctmgr -i add cluster fmslabci >/dev/null 2>&1 || true
sacctmgr -i add account fmslab Description=ci Organization=ci Cluster=fmslabci >/dev/null 2>&1 || true
sacctmgr -i add user root Account=fmslab Cluster=fmslabci DefaultAccount=fmslab >/dev/null 2>&1 || true
# Job steps (srun inside a batch job) look for the configuration at the default path, not in SLURM_CONF:
# link it there, unless a real configuration of another cluster is already in place.
if [ ! -e /etc/slurm/slurm.conf ] || [ -L /etc/slurm/slurm.conf ]; then
    mkdir -p /etc/slurm && ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf
else
    fail "/etc/slurm/slurm.conf belongs to another cluster; not replacing it" /dev/null
fi
/usr/sbin/slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start" "$dir/log/slurmctld.log"
wait_for 30 scontrol ping || fail "slurmctld does not answer" "$dir/log/slurmctld.log"
/usr/sbin/slurmd -f "$SLURM_CONF" || fail "slurmd did not start" "$dir/log/slurmd.log"
wait_for 60 sh -c "sinfo -h -o %t | grep -q idle" || fail "the node did not become idle" "$dir/log/slurmd.log"
echo ok
