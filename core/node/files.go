package node

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"

	"github.com/lni/vfs"
)

// The node's own small files (node.json, peers.json) go through cfg.FS, the
// file system dragonboat and the queue shards use too, so that a simulated
// crash treats them like the rest of the node's data.

// readFile returns the content of path; ok is false if it does not exist.
func readFile(fs vfs.FS, path string) (b []byte, ok bool, err error) {
	f, err := fs.Open(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	b, err = io.ReadAll(f)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return b, true, nil
}

// exists reports whether path exists.
func exists(fs vfs.FS, path string) bool {
	_, err := fs.Stat(path)
	return err == nil
}

// writeFileAtomic replaces path with b: it writes a temporary file, syncs
// it, renames it over path and syncs the directory, so that after a crash
// path holds either the old or the new content, whole.
func writeFileAtomic(fs vfs.FS, path string, b []byte) error {
	dir := fs.PathDir(path)
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return syncDir(fs, dir)
}

// syncDir makes the entries of dir durable: a file created, renamed or
// removed in it survives a crash only once dir itself is synced.
func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
