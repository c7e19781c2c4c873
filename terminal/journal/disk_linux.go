package journal

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// DiskUsage returns the journal file's size and the space left on its
// file system for an unprivileged process, in bytes: the register's
// status reports them, since a full disk stops its sales.
func (j *Journal) DiskUsage() (size, free uint64, err error) {
	path := j.db.Path()
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("journal disk usage: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, 0, fmt.Errorf("journal disk usage: statfs %s: %w", path, err)
	}
	return uint64(fi.Size()), fs.Bavail * uint64(fs.Bsize), nil
}
