//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// LockServing claims the database for this process's server: it takes an
// exclusive lock on the file PATH.lock beside the database, held until the
// store is closed or the process ends (the kernel releases it on any
// exit, SIGKILL included). A second server on the same file gets an error
// instead of serving from a cache that the first one's writes would not
// reach. Commands that change keys or settings (apikey, tenant, webhook)
// do not take it: the server notices their writes through DataVersion.
//
// The lock is a separate file because SQLite's own POSIX locks on the
// database are dropped when any descriptor of that file in the process is
// closed.
func (s *Store) LockServing() error {
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("sqlite: another sessiond is serving %s (it holds %s.lock); one server per SQLite file, or use PostgreSQL for several", s.path, s.path)
		}
		return fmt.Errorf("sqlite: locking %s.lock: %w", s.path, err)
	}
	s.lock = f
	return nil
}
