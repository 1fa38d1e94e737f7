// Package chaos is the churn tier of kube-iaas (issue 10): on the kind cluster of
// test/kind/e2e.sh it drives Service type=LoadBalancer and PVC lifecycles concurrently
// while the simulator injects faults on every action and a disruptor kill -9s the CCM,
// the CSI controller, a CSI node plugin and the simulator; then it checks, from the IaaS
// side and the Kubernetes side, that everything converged and nothing leaked. The tests
// skip unless KUBE_IAAS_CHAOS is short or long (test/kind/e2e.sh sets it from E2E_CHAOS).
package chaos
