//go:build !linux

package journal

// releaseMapped does nothing where madvise is not known to drop a shared
// file mapping's pages.
func (j *Journal) releaseMapped() {}
