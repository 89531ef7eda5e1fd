#!/usr/bin/env bash
# PID 1 of the node's sandbox (e2e/sandbox.ts), run by unshare in fresh PID, mount and network
# namespaces. usage: sandbox-init.sh CLUSTER_DIR CGROUP
# Sets up the mounts, sysctl stand-ins and cgroup root, prints "ready", then waits for its stdin to
# close: then it kills every process of the sandbox and removes the cgroups they used.
set -euo pipefail
dir="$1" cgroup="$2"
# The cluster folder stays writable; the rest of the host's root file system is read-only in here,
# so that a component writing to a fixed path outside the folders below fails loudly instead of
# leaving a file behind.
mount --bind "$dir" "$dir"
mount -o remount,bind,ro /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0755 tmpfs /var/log
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
mkdir -p "$dir/sysctl"
for setting in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  key="${setting%%=*}"
  file="$dir/sysctl/${key//\//.}"
  echo "${setting#*=}" >"$file"
  mount --bind "$file" "/proc/sys/$key"
done
roots=()
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  roots=(/sys/fs/cgroup)
else
  for hierarchy in /sys/fs/cgroup/*; do
    if [[ -f "$hierarchy/cgroup.procs" && "$hierarchy" != */unified ]]; then roots+=("$hierarchy"); fi
  done
fi
for root in "${roots[@]}"; do mkdir -p "$root/$cgroup"; done
if [[ -f /sys/fs/cgroup/cpuset/cpuset.cpus ]]; then
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$cgroup/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$cgroup/cpuset.mems"
fi
ip link set lo up
echo ready
while read -r _; do :; done
set +e
kill -KILL -1 2>/dev/null
for _ in $(seq 100); do
  pids=(/proc/[0-9]*)
  (( ${#pids[@]} <= 1 )) && break
  sleep 0.05
done
for hierarchy in /sys/fs/cgroup /sys/fs/cgroup/*; do
  if [[ -d "$hierarchy/$cgroup" ]]; then find "$hierarchy/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null; fi
done
exit 0
