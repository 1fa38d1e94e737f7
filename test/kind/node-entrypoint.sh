#!/bin/bash
# kube-iaas: runs before kind's entrypoint in every node container. On hosts that
# withhold CAP_SYS_RESOURCE (see /work/shared/KIND-OFFLINE.md) the node cannot run
# privileged, so (1) the cgroup v1 mounts are read-only: remount them rw (a bind remount;
# a plain remount gives EBUSY); (2) containerd must not let kubelet ask for
# oom_score_adj below what it may set (kind does the same for rootless). On other hosts
# nothing changes.
set -e
capbnd=$(awk '/^CapBnd:/{print $2}' /proc/self/status)
if (( (0x$capbnd >> 24 & 1) == 0 )); then
  echo "kube-iaas: no CAP_SYS_RESOURCE: rw cgroup mounts, restrict_oom_score_adj" >&2
  awk '$2 ~ "^/sys/fs/cgroup" && $4 ~ "(^|,)ro(,|$)" {print $2}' /proc/self/mounts | while read -r m; do
    mount -o remount,bind,rw "$m" || echo "kube-iaas: remount $m rw failed" >&2
  done
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
fi
exec "$@"
