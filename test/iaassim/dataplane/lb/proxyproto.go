package lb

import (
	"encoding/binary"
	"net/netip"
)

// proxyV2Sig is the 12-byte signature of a PROXY protocol v2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// proxyV2Header is the PROXY protocol v2 header (command PROXY, transport STREAM) that
// tells the backend the client's and the VIP's addresses and ports.
func proxyV2Header(src, dst netip.AddrPort) []byte {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	h := append([]byte{}, proxyV2Sig...)
	h = append(h, 0x21) // version 2, command PROXY
	if s.Is4() && d.Is4() {
		h = append(h, 0x11) // AF_INET, STREAM
		h = binary.BigEndian.AppendUint16(h, 12)
		a, b := s.As4(), d.As4()
		h = append(h, a[:]...)
		h = append(h, b[:]...)
	} else {
		h = append(h, 0x21) // AF_INET6, STREAM
		h = binary.BigEndian.AppendUint16(h, 36)
		a, b := s.As16(), d.As16()
		h = append(h, a[:]...)
		h = append(h, b[:]...)
	}
	h = binary.BigEndian.AppendUint16(h, src.Port())
	h = binary.BigEndian.AppendUint16(h, dst.Port())
	return h
}
