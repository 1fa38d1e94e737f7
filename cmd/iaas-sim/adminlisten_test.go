package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 15, gap 4: the admin listener's credential.
func TestAdminCredential(t *testing.T) {
	dir := t.TempDir()
	// A missing token file is created 0600 with a random token, and read back alike.
	tf := filepath.Join(dir, "sub", "admin-token")
	tok, err := loadOrCreateToken(tf)
	if err != nil || len(tok) < 32 {
		t.Fatalf("created token %q: %v", tok, err)
	}
	if st, err := os.Stat(tf); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", st.Mode(), err)
	}
	if again, err := loadOrCreateToken(tf); err != nil || again != tok {
		t.Fatalf("read back %q, %v; want %q", again, err, tok)
	}
	// A token others can read is no secret; a short one is guessable.
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("0123456789abcdef0123\n"), 0o644)
	if _, err := loadOrCreateToken(open); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a 0644 token file: %v", err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := loadOrCreateToken(short); err == nil || !strings.Contains(err.Error(), "16 characters") {
		t.Fatalf("a short token: %v", err)
	}
	// An open listener only on loopback, refused before anything listens.
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "localhost:0", "192.0.2.1:0"} {
		if _, err := listenAdmin(&options{adminListen: addr, adminInsecureLoopback: true, dataDir: dir}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--admin-insecure-loopback on %s: %v", addr, err)
		}
	}
	c, err := listenAdmin(&options{adminListen: "127.0.0.1:0", adminInsecureLoopback: true, dataDir: dir})
	if err != nil || c.token != "" {
		t.Fatalf("open loopback: %v", err)
	}
	c.ln.Close()
	// TCP without the opt-in needs the token of <data-dir>/admin-token.
	c, err = listenAdmin(&options{adminListen: "127.0.0.1:0", dataDir: dir})
	if err != nil || c.token == "" || c.tokenFile != filepath.Join(dir, "admin-token") {
		t.Fatalf("token listener: %+v %v", c, err)
	}
	c.ln.Close()
	// A unix socket is created 0600 (also under a permissive umask) and needs no token.
	sock := filepath.Join(dir, "admin.sock")
	c, err = listenAdmin(&options{adminListen: "unix:" + sock, dataDir: dir})
	if err != nil || c.token != "" || c.url != "unix:"+sock {
		t.Fatalf("unix socket: %+v %v", c, err)
	}
	defer c.ln.Close()
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
}
