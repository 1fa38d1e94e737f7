package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// adminCredential is how the admin listener authenticates its callers.
type adminCredential struct {
	ln        net.Listener
	token     string // "" = no bearer token (0600 unix socket, or --admin-insecure-loopback)
	tokenFile string
	url       string // http://host:port, or unix:PATH
}

// listenAdmin opens the admin listener and picks its credential: a unix socket of mode
// 0600 is its own credential; a TCP listener needs the bearer token of --admin-token-file
// unless the operator explicitly asked for an open loopback listener.
func listenAdmin(o *options) (*adminCredential, error) {
	if path, ok := strings.CutPrefix(o.adminListen, "unix:"); ok {
		if path == "" {
			return nil, errors.New("--admin-listen: unix: needs a path")
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--admin-listen: removing a stale socket: %w", err)
		}
		// The socket is created 0600 (umask 0177 while it is made), not chmodded after:
		// between the two, anyone could connect.
		old := syscall.Umask(0o177)
		ln, err := net.Listen("unix", path)
		syscall.Umask(old)
		if err != nil {
			return nil, fmt.Errorf("--admin-listen: %w", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("--admin-listen: %w", err)
		}
		return &adminCredential{ln: ln, url: "unix:" + path}, nil
	}
	if o.adminInsecureLoopback {
		// Checked before listening, so a wrong address is never open, not even briefly.
		host, _, err := net.SplitHostPort(o.adminListen)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("--admin-insecure-loopback: %q is not a loopback IP address and port", o.adminListen)
		}
	}
	ln, err := net.Listen("tcp", o.adminListen)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	c := &adminCredential{ln: ln, url: "http://" + ln.Addr().String()}
	if o.adminInsecureLoopback {
		return c, nil
	}
	c.tokenFile = o.adminTokenFile
	if c.tokenFile == "" {
		c.tokenFile = filepath.Join(o.dataDir, "admin-token")
	}
	if c.token, err = loadOrCreateToken(c.tokenFile); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--admin-token-file: %w", err)
	}
	return c, nil
}

// loadOrCreateToken reads the token, or writes a random one (mode 0600) when the file
// does not exist. A token readable by group or others is refused: it would be no secret.
func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		tok := hex.EncodeToString(raw)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateToken(path) // created concurrently: use that one
		}
		if err != nil {
			return "", err
		}
		_, err = f.WriteString(tok + "\n")
		if err2 := f.Close(); err == nil {
			err = err2
		}
		return tok, err
	}
	if err != nil {
		return "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s has mode %v: it must not be readable by group or others (chmod 600)", path, st.Mode().Perm())
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("%s: the token must have at least 16 characters", path)
	}
	return tok, nil
}
