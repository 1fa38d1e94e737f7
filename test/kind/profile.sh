# The parameters of one kind cluster and the simulated IaaS that serves it; source it
# after lib.sh. Two profiles never collide, so `make test` (cluster kube-iaas-e2e) can
# run while a `make demo` cluster (kube-iaas) is up: each has its own pod subnet, API
# port, load-balancer pools, nftables table and state directory. Everything can be
# overridden from the environment.
CLUSTER=${KIND_CLUSTER:-kube-iaas}
case $CLUSTER in
kube-iaas) _pod=10.245.0.0/16 _port=7790 _pub=172.31.242.0/24 _int=172.31.243.0/24 ;;
kube-iaas-e2e) _pod=10.246.0.0/16 _port=7792 _pub=172.31.244.0/24 _int=172.31.245.0/24 ;;
*)
  # Another cluster must not fall back to a profile that a running one uses: its
  # down.sh would remove that one's routes and load-balancer addresses.
  _pod="" _port="" _pub="" _int=""
  if [[ -z ${KIND_POD_SUBNET:-} || -z ${SIM_PORT:-} || -z ${KIND_PUBLIC_POOL:-} || -z ${KIND_INTERNAL_POOL:-} ]]; then
    log "cluster $CLUSTER has no profile: set KIND_POD_SUBNET, SIM_PORT, KIND_PUBLIC_POOL and KIND_INTERNAL_POOL (test/kind/profile.sh)"
    exit 2
  fi
  ;;
esac
POD_SUBNET=${KIND_POD_SUBNET:-$_pod}
PORT=${SIM_PORT:-$_port}
PUBLIC_POOL=${KIND_PUBLIC_POOL:-$_pub}
INTERNAL_POOL=${KIND_INTERNAL_POOL:-$_int}
NFT_TABLE=kube_iaas_${CLUSTER//[^a-zA-Z0-9]/_}
# Runtime state of the cluster's simulator (config, key, data, log, PID), kept between
# `make demo` runs and removed by down.sh. Not under $CACHE: this is state, not a build.
STATE_ROOT=${KUBE_IAAS_STATE_DIR:-/var/lib/kube-iaas}
STATE=$STATE_ROOT/$CLUSTER
KUBECONFIG=${KIND_KUBECONFIG:-$KIND_ROOT/$CLUSTER.kubeconfig}
BIN=$REPO_ROOT/bin
K=$KUBE_BIN/kubectl
export KUBECONFIG KIND_CLUSTER=$CLUSTER KIND_POD_SUBNET=$POD_SUBNET
unset _pod _port _pub _int

# kind_network: BRIDGE, SUBNET and GW of Docker's "kind" network (made by kind create).
kind_network() {
  local net_id
  net_id=$(docker network inspect kind -f '{{.Id}}')
  BRIDGE=br-${net_id:0:12}
  read -r SUBNET GW < <(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{"\n"}}{{end}}' | awk '$1 ~ /\./ {print; exit}')
  ENDPOINT=http://$GW:$PORT
}

# other_clusters: the state directories of the other clusters' simulators (up.sh makes
# one before it starts anything; down.sh removes it last).
other_clusters() { find "$STATE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name "$CLUSTER" 2>/dev/null; }

# sim_pid: the PID of this cluster's running simulator, if any (checked against its
# command line, so a recycled PID is never taken for it).
sim_pid() {
  local pid
  pid=$(cat "$STATE/iaas-sim.pid" 2>/dev/null) || return 1
  [[ -n $pid && $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"--data-dir $STATE/data "* ]] && echo "$pid"
}
