// Package disk is the simulator's disk: one strict in-memory file system
// per node, which loses whatever was not synced when the node crashes.
package disk

import (
	"fmt"

	"github.com/lni/vfs"
)

// Disk is one node's disk.
type Disk struct {
	FS *vfs.MemFS
}

// New returns an empty disk.
func New() *Disk { return &Disk{FS: vfs.NewStrictMem()} }

// MkdirDurable creates dir and syncs its parent, so that the directory
// itself survives a crash (a strict file system forgets an entry until its
// directory is synced, and Pebble does not sync the parent of its own).
func (d *Disk) MkdirDurable(dir string) error {
	if err := d.FS.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	parent, err := d.FS.OpenDir(d.FS.PathDir(dir))
	if err != nil {
		return fmt.Errorf("open parent of %s: %w", dir, err)
	}
	defer parent.Close()
	if err := parent.Sync(); err != nil {
		return fmt.Errorf("sync parent of %s: %w", dir, err)
	}
	return nil
}

// PowerOff starts a crash: from now on syncs do nothing, so what the node
// writes while it is being stopped is lost as it would be.
func (d *Disk) PowerOff() { d.FS.SetIgnoreSyncs(true) }

// PowerOn ends a crash: everything not synced before PowerOff is gone.
func (d *Disk) PowerOn() {
	d.FS.ResetToSyncedState()
	d.FS.SetIgnoreSyncs(false)
}
