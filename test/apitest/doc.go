// Package apitest runs iaasclient.Client against the real iaas-sim binary over real
// HTTP: every operation, idempotent creates, task polling, convergence under injected
// faults and cancellation. It needs no root: the simulator uses the static instance
// backend and loopback addresses (127.0.0.x) as instance IPs.
package apitest
