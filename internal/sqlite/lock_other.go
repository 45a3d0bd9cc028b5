//go:build !unix

package sqlite

import "errors"

// LockServing is not available on this platform: the server runs without
// its session cache.
func (s *Store) LockServing() error {
	return errors.New("sqlite: the serving lock needs a Unix system")
}
