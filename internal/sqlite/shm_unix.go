//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walIndexVersion is the wal-index format this reader understands
// (WALINDEX_MAX_VERSION of SQLite's wal.c, unchanged since 3.7.0).
const walIndexVersion = 3007000

// shmHeaders are the mapped wal-index headers, one per database file. A
// mapping is never closed while its file is in use: closing any
// descriptor of a file drops every POSIX lock the process holds on it,
// SQLite's own locks on the -shm file included, which would let another
// process re-initialise the wal-index under our connections. Once SQLite
// has replaced the file (every connection closed, then a new one opened),
// the old one is released.
var shmHeaders struct {
	sync.Mutex
	byPath map[string]*shmHeader
}

// shmHeader is the start of a database's -shm file, shared with every
// process that has the database open.
type shmHeader struct {
	mem []byte
	f   *os.File // kept so that the descriptor is not closed while in use
	fi  os.FileInfo
}

// mapShm maps path's wal-index, or returns nil if it cannot (then
// DataVersion asks SQLite instead).
func mapShm(path string) *shmHeader {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	shmHeaders.Lock()
	defer shmHeaders.Unlock()
	fi, err := os.Stat(abs + "-shm")
	if err != nil {
		return nil
	}
	if h, ok := shmHeaders.byPath[abs]; ok {
		if os.SameFile(h.fi, fi) {
			return h
		}
		// SQLite has made a new file: nobody uses the old one.
		syscall.Munmap(h.mem)
		h.f.Close()
		delete(shmHeaders.byPath, abs)
	}
	f, err := os.Open(abs + "-shm")
	if err != nil {
		return nil
	}
	if fi, err = f.Stat(); err != nil || fi.Size() < 4096 {
		f.Close()
		return nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil
	}
	h := &shmHeader{mem: mem, f: f, fi: fi}
	if shmHeaders.byPath == nil {
		shmHeaders.byPath = make(map[string]*shmHeader)
	}
	shmHeaders.byPath[abs] = h
	if h.word(0) != walIndexVersion || mem[12] != 1 { // iVersion, isInit
		return nil
	}
	return h
}

func (h *shmHeader) word(i int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&h.mem[4*i])))
}

// version folds the first copy of the wal-index header (48 bytes: the
// change counter, the last valid WAL frame, salts and checksums) into one
// number. Every commit rewrites it, by any process, before the commit is
// visible to anyone; nothing else does.
func (h *shmHeader) version() int64 {
	x := uint64(14695981039346656037) // FNV-1a
	for i := range 12 {
		x ^= uint64(h.word(i))
		x *= 1099511628211
	}
	return int64(x)
}
