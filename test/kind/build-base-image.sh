#!/usr/bin/env bash
# Builds $BASE_IMAGE, an equivalent of kindest/base made without a container registry:
# a debootstrap'd Debian bookworm (packages from Debian, containerd/runc/CNI plugins
# included) plus kind's own base-image files, copied at build time out of the kind module
# in the Go module cache (never committed here). See /work/shared/KIND-OFFLINE.md.
source "$(dirname "$0")/lib.sh"

ROOTFS=$KIND_ROOT/rootfs-bookworm
PKGS=systemd,systemd-sysv,dbus,containerd,runc,containernetworking-plugins,iptables,nftables,iproute2,conntrack,ebtables,ipset,ethtool,util-linux,mount,kmod,e2fsprogs,xfsprogs,socat,ca-certificates,procps,libseccomp2,pigz,fuse-overlayfs,bash,jq,curl
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HASH=$(inputs_hash "$0" "$KIND_SRC_DIR/node-entrypoint.sh" -- "$PKGS" "$KIND_VERSION" "$PAUSE_TAG")

if image_current "$BASE_IMAGE" "$HASH"; then echo "$BASE_IMAGE"; exit 0; fi

debootstrap_rootfs() {
  # The debootstrap'd tree is reused while the package list is the same.
  [[ "$(cat "$ROOTFS/.done" 2>/dev/null)" == "$PKGS" ]] && return 0
  command -v debootstrap >/dev/null || apt_install debootstrap
  rm -rf "$ROOTFS"
  nice -n 10 debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOTFS" "$MIRROR" >"$KIND_ROOT/debootstrap.log" 2>&1 ||
    { tail -20 "$KIND_ROOT/debootstrap.log" >&2; return 1; }
  echo "$PKGS" >"$ROOTFS/.done"
}

crictl() {
  [[ -x $KIND_BIN/crictl ]] && return 0
  GOBIN=$KIND_BIN CGO_ENABLED=0 nice -n 10 go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0 >&2
}

customize() {
  local kind_dir files r=$KIND_ROOT/rootfs-base
  # A copy: the customized tree is rebuilt from the pristine debootstrap each time.
  rm -rf "$r" && cp -a "$ROOTFS" "$r" && rm -f "$r/.done"
  kind_dir=$(go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  files=$kind_dir/images/base/files
  # The steps of kind's images/base/Dockerfile, with Debian's containerd, runc and CNI plugins.
  install -d -m 0755 "$r/kind" "$r/kind/bin" "$r/LICENSES" "$r/etc/containerd" "$r/etc/default" \
    "$r/etc/sysctl.d" "$r/etc/systemd/system/kubelet.service.d" "$r/etc/kubernetes/manifests" "$r/opt/cni"
  install -m 0755 "$files"/usr/local/bin/* "$r/usr/local/bin/"
  install -m 0644 "$files"/kind/README.txt "$r/kind/"
  install -m 0755 "$files"/kind/bin/* "$r/kind/bin/"
  install -m 0644 "$files"/LICENSES/* "$r/LICENSES/"
  install -m 0644 "$files"/etc/crictl.yaml "$r/etc/"
  install -m 0644 "$files"/etc/containerd/* "$r/etc/containerd/"
  install -m 0644 "$files"/etc/default/* "$r/etc/default/"
  install -m 0644 "$files"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  install -m 0644 "$files"/etc/systemd/system/*.service "$files"/etc/systemd/system/*.slice "$r/etc/systemd/system/"
  install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  install -m 0755 "$KIND_BIN/crictl" "$r/usr/local/bin/crictl"
  # kind's units and scripts expect containerd and its tools in /usr/local/bin, CNI
  # plugins in /opt/cni/bin; Debian has them in /usr/bin and /usr/lib/cni.
  ln -sf /usr/bin/containerd "$r/usr/local/bin/containerd"
  ln -sf /usr/bin/ctr "$r/usr/local/bin/ctr"
  ln -sf /usr/bin/containerd-shim-runc-v2 "$r/usr/local/bin/containerd-shim-runc-v2"
  rm -rf "$r/opt/cni/bin" && ln -s /usr/lib/cni "$r/opt/cni/bin"
  # Our pause tag (kind's node-image build rewrites this line the same way).
  sed -i "s#sandbox_image = .*#sandbox_image = \"$KUBE_REGISTRY/pause:$PAUSE_TAG\"#" "$r/etc/containerd/config.toml"
  install -m 0755 "$KIND_SRC_DIR/node-entrypoint.sh" "$r/usr/local/bin/kube-iaas-entrypoint"
  chroot "$r" /bin/sh -ec '
    ctr oci spec \
      | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
      | jq "del(.process.rlimits)" >/etc/containerd/cri-base.json
    find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo ReadKMsg=no >>/etc/systemd/journald.conf
    ln -sf /usr/lib/systemd/systemd /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service
    systemctl mask systemd-binfmt.service
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
  '
}

import_image() {
  local tmp=kube-iaas/kind-base-rootfs:bookworm dir
  tar -C "$KIND_ROOT/rootfs-base" --numeric-owner -c . | docker import - "$tmp" >/dev/null
  rm -rf "$KIND_ROOT/rootfs-base"
  dir=$(mktemp -d)
  # docker import cannot set STOPSIGNAL: one more step on top.
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM $tmp
LABEL $INPUTS_LABEL=$HASH
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/kube-iaas-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]
DOCKERFILE
  DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" "$dir" >/dev/null
  rm -rf "$dir"
  docker rmi "$tmp" >/dev/null
}

build() {
  image_current "$BASE_IMAGE" "$HASH" && return 0
  step "debootstrap bookworm" debootstrap_rootfs
  step "crictl" crictl
  step "base rootfs customize" customize
  step "base image import" import_image
}
with_lock "$KIND_ROOT/.lock-base" build
echo "$BASE_IMAGE"
