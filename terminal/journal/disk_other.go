//go:build !linux

package journal

import "errors"

// DiskUsage is not measured off Linux: registers run Linux.
func (j *Journal) DiskUsage() (size, free uint64, err error) {
	return 0, 0, errors.New("journal disk usage: measured on Linux only")
}
