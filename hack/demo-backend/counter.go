package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// counter appends one line per visit to a log on the volume and syncs it before the
// visit is answered: the count a client saw is never lost when the node dies.
type counter struct {
	mu    sync.Mutex
	f     *os.File
	n     int
	first string
}

func openCounter(dir string) (*counter, error) {
	f, err := os.OpenFile(filepath.Join(dir, "visits.log"), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c := &counter{f: f}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if c.n == 0 {
			c.first = strings.TrimSpace(sc.Text())
		}
		c.n++
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	return c, nil
}

// add records a visit served by who and returns the new count and who served the first.
func (c *counter) add(who string) (int, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintln(c.f, who); err != nil {
		return 0, "", err
	}
	if err := c.f.Sync(); err != nil {
		return 0, "", err
	}
	c.n++
	if c.first == "" {
		c.first = who
	}
	return c.n, c.first, nil
}
