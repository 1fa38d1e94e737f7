# The parameters of one kind cluster and the simulated IaaS that serves it; source it
# after lib.sh. Two profiles never collide, so `make test` (cluster kube-iaas-e2e) can
# run while a `make demo` cluster (kube-iaas) is up: each has its own pod subnet, API
# port, load-balancer pools, nftables table and state directory. Everything can be
# overridden from the environment.
CLUSTER=${KIND_CLUSTER:-kube-iaas}
case $CLUSTER in
kube-iaas-e2e) _pod=10.246.0.0/16 _port=7792 _pub=172.31.244.0/24 _int=172.31.245.0/24 ;;
*) _pod=10.245.0.0/16 _port=7790 _pub=172.31.242.0/24 _int=172.31.243.0/24 ;;
esac
POD_SUBNET=${KIND_POD_SUBNET:-$_pod}
PORT=${SIM_PORT:-$_port}
PUBLIC_POOL=${KIND_PUBLIC_POOL:-$_pub}
INTERNAL_POOL=${KIND_INTERNAL_POOL:-$_int}
NFT_TABLE=kube_iaas_${CLUSTER//[^a-zA-Z0-9]/_}
# Runtime state of the cluster's simulator (config, key, data, log, PID), kept between
# `make demo` runs and removed by down.sh. Not under $CACHE: this is state, not a build.
STATE=${KUBE_IAAS_STATE_DIR:-/var/lib/kube-iaas}/$CLUSTER
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

# sim_pid: the PID of this cluster's running simulator, if any (checked against its
# command line, so a recycled PID is never taken for it).
sim_pid() {
  local pid
  pid=$(cat "$STATE/iaas-sim.pid" 2>/dev/null) || return 1
  [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $STATE/data" && echo "$pid"
}
