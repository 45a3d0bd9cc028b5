// Package tlscert serves a TLS certificate and key pair from files and
// swaps in a renewed pair without a restart, so that certificate rotation
// (e.g. by an ACME client) needs no downtime.
package tlscert

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// Reloader holds the current certificate. Handshakes read it lock-free.
type Reloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// New loads the pair, failing if it cannot be used.
func New(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the pair again. On error the previous pair stays in use.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Config returns a server TLS configuration using the pair: TLS 1.2 or
// newer, HTTP/2 and HTTP/1.1 offered.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
