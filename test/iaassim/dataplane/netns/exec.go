package netns

import (
	"fmt"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// Do runs fn on an OS thread switched into the named network namespace. Sockets that fn
// creates stay in that namespace after Do returns, so a test can Listen or Dial "inside"
// an instance without a helper process: the socket, not the thread, carries the
// namespace.
func Do(nsName string, fn func() error) error {
	target, err := vnetns.GetFromName(nsName)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsName, err)
	}
	defer target.Close()
	return doIn(target, fn)
}

func doIn(target vnetns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	// A fresh goroutine so that, if switching back fails, only this thread is tainted:
	// it stays locked when the goroutine exits and the runtime then discards it.
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := vnetns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			errc <- fmt.Errorf("setns back: %w (thread discarded)", err)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// newNamed creates a named network namespace (a bind mount under /run/netns, as
// `ip netns add` does) without leaving the caller's thread in it.
func newNamed(name string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		h, err := vnetns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		if serr := vnetns.Set(orig); serr != nil {
			errc <- fmt.Errorf("setns back: %w (thread discarded)", serr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
