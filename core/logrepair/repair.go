package logrepair

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/lni/vfs"
)

// tanDirName is the directory dragonboat keeps tan's databases in, under
// NodeHostDir/<hostname>/<node host id>/; each of its subdirectories but
// bootstrapDirName is one replica's database (node-<shard>-<replica>).
const (
	tanDirName       = "tandb"
	bootstrapDirName = "bootstrap"
	// searchDepth bounds the walk from NodeHostDir down to tandb.
	searchDepth = 3
)

// Repair is what was done to one log: a torn tail cut off, its index
// removed, or both.
type Repair struct {
	// File is the log file's path.
	File string
	// From and To are the byte range dropped: [From, To); From == To when
	// the log itself was whole.
	From, To int64
	// Reason says what the dropped bytes were.
	Reason string
	// IndexRemoved names the log's index file if it was removed, for tan
	// to rebuild from the log; IndexReason says why.
	IndexRemoved, IndexReason string
}

// Cut reports whether bytes were cut off the log.
func (r Repair) Cut() bool { return r.From < r.To }

// RepairTornTails checks the newest log of every tan database under
// nodeHostDir (dragonboat's NodeHostDir) and cuts a torn tail off it. It
// must run before dragonboat opens the logs. It returns what it cut; an
// error wrapping ErrCorrupt names a file whose damage is not a torn tail.
//
// Only a database's newest non-empty log is looked at: tan writes only to
// the log it opened last, so an append cut by a power loss is in that
// one. When the log has an index file (tan writes one when it closes a log
// or moves to the next) that names a record no longer whole, or cannot be
// read, the index is removed before the log is cut: tan rebuilds a missing
// index of its newest log from the log itself, as it does after every
// crash. If tan has opened a newer (empty) log since, it would not rebuild
// this one's index, so that repair is refused (ErrNotRepairable).
func RepairTornTails(fs vfs.FS, nodeHostDir string) ([]Repair, error) {
	dbs, err := findDatabases(fs, nodeHostDir, searchDepth)
	if err != nil {
		return nil, err
	}
	var repairs []Repair
	for _, dir := range dbs {
		r, ok, err := repairDatabase(fs, dir)
		if err != nil {
			return repairs, err
		}
		if ok {
			repairs = append(repairs, r)
		}
	}
	return repairs, nil
}

// findDatabases returns the tan database directories under dir.
func findDatabases(fs vfs.FS, dir string, depth int) ([]string, error) {
	names, err := fs.List(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(names)
	var dbs []string
	for _, name := range names {
		path := fs.PathJoin(dir, name)
		if !isDir(fs, path) {
			continue
		}
		if name != tanDirName {
			if depth > 0 {
				found, err := findDatabases(fs, path, depth-1)
				if err != nil {
					return nil, err
				}
				dbs = append(dbs, found...)
			}
			continue
		}
		subs, err := fs.List(path)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", path, err)
		}
		slices.Sort(subs)
		for _, sub := range subs {
			if p := fs.PathJoin(path, sub); sub != bootstrapDirName && isDir(fs, p) {
				dbs = append(dbs, p)
			}
		}
	}
	return dbs, nil
}

func isDir(fs vfs.FS, path string) bool {
	fi, err := fs.Stat(path)
	return err == nil && fi.IsDir()
}

// repairDatabase checks the newest non-empty log of the tan database in dir.
func repairDatabase(fs vfs.FS, dir string) (Repair, bool, error) {
	names, err := fs.List(dir)
	if err != nil {
		return Repair{}, false, fmt.Errorf("list %s: %w", dir, err)
	}
	var logs, indexes []uint64
	for _, name := range names {
		if n, ok := fileNum(name, ".log"); ok {
			logs = append(logs, n)
		}
		if n, ok := fileNum(name, ".index"); ok {
			indexes = append(indexes, n)
		}
	}
	slices.Sort(logs)
	for i := len(logs) - 1; i >= 0; i-- {
		path := fs.PathJoin(dir, logName(logs[i]))
		fi, err := fs.Stat(path)
		if err != nil {
			return Repair{}, false, fmt.Errorf("stat %s: %w", path, err)
		}
		if fi.Size() == 0 {
			continue
		}
		return repairLog(fs, dir, logs[i], fi.Size(), slices.Contains(indexes, logs[i]), i < len(logs)-1)
	}
	return Repair{}, false, nil
}

// repairLog checks the log numbered num, of size bytes, which has an index
// file when indexed, and is followed by newer (empty) logs when newer.
func repairLog(fs vfs.FS, dir string, num uint64, size int64, indexed, newer bool) (Repair, bool, error) {
	path := fs.PathJoin(dir, logName(num))
	var starts []int64 // offsets of the whole records, ascending
	tail, err := scanFile(fs, path, size, func(start int64, _ []byte) { starts = append(starts, start) })
	if err != nil {
		return Repair{}, false, err
	}
	r := Repair{File: path, From: tail.GoodEnd, To: tail.Size, Reason: tail.Reason}
	// The index must name only whole records. It names a lost one when
	// the tail was cut (or lost whole records: a tail lost at a record
	// boundary scans clean, but the index still points past the end).
	if indexed {
		index := fs.PathJoin(dir, indexName(num))
		offsets, err := indexedOffsets(fs, index, num)
		if err != nil {
			r.IndexReason = fmt.Sprintf("unreadable: %v", err)
		}
		for _, off := range offsets {
			if _, found := slices.BinarySearch(starts, off); !found {
				r.IndexReason = fmt.Sprintf("names offset %d, not the start of a whole record", off)
				break
			}
		}
		if r.IndexReason != "" {
			r.IndexRemoved = index
		}
	}
	if !tail.Torn() && r.IndexRemoved == "" {
		return Repair{}, false, nil
	}
	if r.IndexRemoved != "" && newer {
		// tan rebuilds a missing index only for its newest log; with a
		// newer one in its manifest it would skip this log or refuse to
		// open. Newer empty logs are left by starts that failed on this
		// very tail (a binary without this repair) or that wrote nothing.
		return r, false, fmt.Errorf("%w: the index of %s %s (log bytes %d-%d: %s), but tan has opened newer empty logs since and would not rebuild it",
			ErrNotRepairable, path, r.IndexReason, r.From, r.To, r.Reason)
	}
	// The index goes first: were the process to stop between the two
	// steps, the next start finds a torn log without an index (what a crash
	// leaves, repaired the same way), never a cut log whose index points
	// past its end.
	if r.IndexRemoved != "" {
		if err := fs.Remove(r.IndexRemoved); err != nil {
			return r, false, fmt.Errorf("remove %s: %w", r.IndexRemoved, err)
		}
		if err := syncDir(fs, dir); err != nil {
			return r, false, err
		}
	}
	if tail.Torn() {
		if err := truncate(fs, dir, path, num, tail.GoodEnd); err != nil {
			return r, false, err
		}
	}
	return r, true, nil
}

func scanFile(fs vfs.FS, path string, size int64, visit visitor) (Tail, error) {
	f, err := fs.Open(path)
	if err != nil {
		return Tail{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	tail, err := scan(f, size, visit, false)
	if err != nil {
		return tail, fmt.Errorf("%s: %w", path, err)
	}
	return tail, nil
}

// truncater is what os.File offers and vfs.File does not promise.
type truncater interface{ Truncate(size int64) error }

// truncate cuts the file at path to size bytes, durably. A real file is
// truncated in place and synced. On a file system whose files cannot be
// truncated (the simulator's), the kept prefix is copied to tan's own
// temporary name for the log, synced and renamed over it: a leftover
// temporary file is one tan deletes when it opens.
func truncate(fs vfs.FS, dir, path string, num uint64, size int64) error {
	f, err := fs.OpenForAppend(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if t, ok := f.(truncater); ok {
		err = t.Truncate(size)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("truncate %s to %d bytes: %w", path, size, err)
		}
		return nil
	}
	f.Close()
	return rewritePrefix(fs, dir, path, num, size)
}

func rewritePrefix(fs vfs.FS, dir, path string, num uint64, size int64) (err error) {
	tmp := fs.PathJoin(dir, fmt.Sprintf("%06d.logtmp", num))
	src, err := fs.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	dst, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, 0, size))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	return syncDir(fs, dir)
}

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

// fileNum parses tan's file names: a decimal file number, then suffix.
func fileNum(name, suffix string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, suffix)
	if !ok || s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func logName(num uint64) string   { return fmt.Sprintf("%06d.log", num) }
func indexName(num uint64) string { return fmt.Sprintf("%06d.index", num) }
