package kv

import (
	"io"
	"os"

	"github.com/cockroachdb/pebble/vfs"
	lnivfs "github.com/lni/vfs"
)

// PebbleFS lets Pebble use a file system of dragonboat's kind (lni/vfs, a
// fork of Pebble's vfs), so that a node's queue stores live on the same
// file system as its Raft log: a simulator gives each node one in-memory
// file system and crashes it as a whole. The two interfaces differ only in
// their option and disk-usage types and in a few extra methods.
func PebbleFS(fs lnivfs.FS) vfs.FS { return pebbleFS{fs} }

type pebbleFS struct{ fs lnivfs.FS }

var _ vfs.FS = pebbleFS{}

func (p pebbleFS) Create(name string) (vfs.File, error) { return wrapFile(p.fs.Create(name)) }
func (p pebbleFS) Link(oldname, newname string) error   { return p.fs.Link(oldname, newname) }
func (p pebbleFS) OpenDir(name string) (vfs.File, error) {
	return wrapFile(p.fs.OpenDir(name))
}
func (p pebbleFS) Remove(name string) error             { return p.fs.Remove(name) }
func (p pebbleFS) RemoveAll(name string) error          { return p.fs.RemoveAll(name) }
func (p pebbleFS) Rename(oldname, newname string) error { return p.fs.Rename(oldname, newname) }
func (p pebbleFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	return wrapFile(p.fs.ReuseForWrite(oldname, newname))
}
func (p pebbleFS) MkdirAll(dir string, perm os.FileMode) error { return p.fs.MkdirAll(dir, perm) }
func (p pebbleFS) Lock(name string) (io.Closer, error)         { return p.fs.Lock(name) }
func (p pebbleFS) List(dir string) ([]string, error)           { return p.fs.List(dir) }
func (p pebbleFS) Stat(name string) (os.FileInfo, error)       { return p.fs.Stat(name) }
func (p pebbleFS) PathBase(path string) string                 { return p.fs.PathBase(path) }
func (p pebbleFS) PathJoin(elem ...string) string              { return p.fs.PathJoin(elem...) }
func (p pebbleFS) PathDir(path string) string                  { return p.fs.PathDir(path) }

// Open applies Pebble's options (read-pattern hints) to the opened file,
// which is a Pebble file too.
func (p pebbleFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := wrapFile(p.fs.Open(name))
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(f)
	}
	return f, nil
}

func (p pebbleFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	u, err := p.fs.GetDiskUsage(path)
	return vfs.DiskUsage{AvailBytes: u.AvailBytes, TotalBytes: u.TotalBytes, UsedBytes: u.UsedBytes}, err
}

// wrapFile returns an lni file as a Pebble file (a subset of its methods),
// and a nil interface, not a typed nil, on error.
func wrapFile(f lnivfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}
