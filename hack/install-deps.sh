#!/usr/bin/env bash
# Installs the OS packages the test suite and `make demo` (or, with `bench`, the
# benchmarks) use, only those missing. Debian 12, as root. Docker (docker.io) and
# debootstrap are installed by test/kind when first needed.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip         || need+=(iproute2)
have losetup    || need+=(util-linux)
have mkfs.ext4  || need+=(e2fsprogs)
have mkfs.xfs   || need+=(xfsprogs)
have blkid      || need+=(util-linux)
have nft        || need+=(nftables)
have curl       || need+=(curl ca-certificates)
have jq         || need+=(jq)
# `install-deps.sh bench` adds what the benchmarks compare against.
if [ "${1:-}" = bench ]; then
  have wrk     || need+=(wrk)
  have haproxy || need+=(haproxy)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Loop devices are made on demand by losetup; make sure the control node exists.
[ -e /dev/loop-control ] || mknod -m 0660 /dev/loop-control c 10 237
