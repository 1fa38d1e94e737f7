// Package validate holds the rules of the IaaS API that need no stored state: what a
// request may contain (names, tags, id lists, CIDRs, route and listener specs, disk
// types and sizes, VIPs), how Describe filters match and how pages are cut, and the
// wording of the errors. They are part of the contract, so they live once, next to it:
// the simulated IaaS (test/iaassim) and the in-memory fake (iaasclient/fake) both call
// them, and a rule changed here changes in both.
//
// Every check returns nil or an *iaasclient.Error whose message starts with the JSON
// path of the field it refuses ("routes[2].destinationCidr: ..."). The rules that need
// the store (does the instance exist, is the disk attached elsewhere) stay with the
// implementations; where such a rule is a pure function of the records involved, it is
// here too and the implementations pass the records in.
//
// It is a package of its own rather than files of iaasclient because the client does
// not run these rules (the server is the authority and the client must not refuse what
// a newer server accepts); keeping them out of iaasclient keeps them out of the
// client's API and out of every binary that only calls the IaaS.
package validate
