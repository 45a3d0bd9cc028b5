package pgtest

import (
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to PostgreSQL and can stop doing so, the
// way a network partition or a dead server looks to a client: frozen, it
// holds every byte and answers no new connection; killed, it closes every
// connection and refuses new ones until restarted on the same address.
type Proxy struct {
	addr, target string
	wg           sync.WaitGroup

	mu     sync.Mutex
	cond   *sync.Cond
	ln     net.Listener
	frozen bool
	closed bool
	conns  []net.Conn
}

// ViaProxy returns a fresh-schema URL (as URL does) that reaches the
// database through a new Proxy, and the proxy. It is killed at cleanup.
func ViaProxy(t testing.TB) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{addr: ln.Addr().String(), target: target}
	p.cond = sync.NewCond(&p.mu)
	p.serve(ln)
	t.Cleanup(func() {
		p.Kill()
		p.wg.Wait()
	})
	u.Host = p.addr
	return u.String(), p
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln, p.closed = ln, false
	p.mu.Unlock()
	p.wg.Go(func() { p.accept(ln) })
}

func (p *Proxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Go(func() {
			if !p.wait() {
				c.Close()
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil || !p.track(up) {
				c.Close()
				return
			}
			p.wg.Go(func() { p.pipe(up, c) })
			p.pipe(c, up)
		})
	}
}

// track registers c to be closed by Kill; false if already killed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

// wait blocks while the proxy is frozen; false once it is killed.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// Freeze holds (true) or releases (false) all traffic.
func (p *Proxy) Freeze(frozen bool) {
	p.mu.Lock()
	p.frozen = frozen
	p.mu.Unlock()
	p.cond.Broadcast()
}

// Kill closes every connection and stops listening: to a client the
// database is gone.
func (p *Proxy) Kill() {
	p.mu.Lock()
	p.closed = true
	conns, ln := p.conns, p.ln
	p.conns = nil
	p.mu.Unlock()
	p.cond.Broadcast()
	ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

// Restart listens again on the same address after Kill: the database is
// back.
func (p *Proxy) Restart(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port was just released; another process could take it, but on
	// loopback in a test that is rare enough to retry briefly.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("pgtest: restart proxy on %s: %v", p.addr, err)
	}
	p.serve(ln)
}
