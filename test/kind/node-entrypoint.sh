#!/bin/bash
# kube-iaas: runs before kind's entrypoint in every node container. On hosts that
# withhold CAP_SYS_RESOURCE (see /work/shared/KIND-OFFLINE.md) the node cannot run
# privileged, so (1) the cgroup v1 mounts are read-only: remount them rw (a bind remount;
# a plain remount gives EBUSY); (2) containerd must not let kubelet ask for
# oom_score_adj below what it may set (kind does the same for rootless); (3) /dev has no
# loop devices, which a privileged container gets from the host: kubelet holds every raw
# block volume of a pod open through one (`losetup -f` on the mapped device file), so
# without them no pod with a block PVC starts. On other hosts nothing changes.
set -e
# The host's loop devices (the shim's device cgroup rule allows them): loop-control and
# /dev/loop0..511, minor = index << part_shift, part_shift = fls(max_part).
make_loop_nodes() {
  [[ -e /dev/loop-control ]] && return 0
  local max_part shift=0 i
  max_part=$(cat /sys/module/loop/parameters/max_part 2>/dev/null || echo 0)
  while ((max_part > 0)); do shift=$((shift + 1)); max_part=$((max_part >> 1)); done
  mknod -m 0660 /dev/loop-control c 10 237 || { echo "kube-iaas: no /dev/loop-control" >&2; return 0; }
  for i in $(seq 0 511); do [[ -e /dev/loop$i ]] || mknod -m 0660 "/dev/loop$i" b 7 $((i << shift)) || true; done
}
capbnd=$(awk '/^CapBnd:/{print $2}' /proc/self/status)
if (( (0x$capbnd >> 24 & 1) == 0 )); then
  echo "kube-iaas: no CAP_SYS_RESOURCE: rw cgroup mounts, restrict_oom_score_adj, loop devices" >&2
  awk '$2 ~ "^/sys/fs/cgroup" && $4 ~ "(^|,)ro(,|$)" {print $2}' /proc/self/mounts | while read -r m; do
    mount -o remount,bind,rw "$m" || echo "kube-iaas: remount $m rw failed" >&2
  done
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
  make_loop_nodes
fi
exec "$@"
