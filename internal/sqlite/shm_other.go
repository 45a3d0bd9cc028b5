//go:build !unix

package sqlite

type shmHeader struct{}

func mapShm(string) *shmHeader { return nil }

func (*shmHeader) version() int64 { return 0 }
