// Package iaasclient is the contract between kube-iaas and the IaaS: the resource
// types, the request and response of every API action, the typed errors, and an HTTP
// client with request signing, retries, idempotency tokens and async task polling.
//
// The wire protocol is described precisely in API.md next to this file. Both the
// simulated IaaS (test/iaassim) and every consumer (csi/, cloudprovider/) build on the
// types here, so a change to the contract is a change to this package first.
package iaasclient
