package journal

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseMapped tells the kernel that the process no longer needs the
// journal file's pages mapped in (madvise MADV_DONTNEED): a sync of many
// cards reads nearly every page of the card cache, and those pages would
// otherwise stay in the register's resident memory although the cache
// lives on disk. The pages stay in the page cache, and the few a sale
// needs are mapped in again on their next read.
//
// It runs inside a read transaction, which holds bbolt's mmap lock: the
// file cannot be remapped, and so moved, while the range is advised. bbolt
// reads the file through a shared read-only mapping and writes with
// pwrite, so dropping the mapping loses nothing.
func (j *Journal) releaseMapped() {
	_ = j.db.View(func(tx *bolt.Tx) error {
		info := j.db.Info()
		size := uintptr(tx.Size())
		if info.Data == 0 || size == 0 {
			return nil
		}
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, info.Data, size, unix.MADV_DONTNEED)
		if errno != 0 {
			return errno
		}
		return nil
	})
}
