package mutants

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// markerConsts names every marker constant, for the source scan below.
var markerConsts = map[string]string{
	"QueueAcceptStaleHandle":  QueueAcceptStaleHandle,
	"QueueIgnoreVisibility":   QueueIgnoreVisibility,
	"QueueFIFOSkipHead":       QueueFIFOSkipHead,
	"QueueForgetDedup":        QueueForgetDedup,
	"QueueForgetRequestID":    QueueForgetRequestID,
	"QueueDLQDuplicate":       QueueDLQDuplicate,
	"QueueDLQDrop":            QueueDLQDrop,
	"QueueDeleteWrongMessage": QueueDeleteWrongMessage,
	"NodeAckBeforeCommit":     NodeAckBeforeCommit,
	"ShardSnapshotMisses":     ShardSnapshotMisses,
	"ShardSkipSync":           ShardSkipSync,
	"ShardRecoverDropsDedup":  ShardRecoverDropsDedup,
}

// TestList checks that every listed mutant has exactly one marker, in the
// package the list names, and that every marker under core/ is listed.
func TestList(t *testing.T) {
	if Rewritten("../queue") || Rewritten("../node") || Rewritten("../shard") {
		t.Fatal("core/ is rewritten by failpoint-ctl: run make failpoints-disable (and never commit a rewritten tree)")
	}
	found := map[string][]string{} // full failpoint name -> files
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isSel(call.Fun, "failpoint", "Inject") || len(call.Args) == 0 {
				return true
			}
			name := ""
			switch a := call.Args[0].(type) {
			case *ast.SelectorExpr:
				name = markerConsts[a.Sel.Name]
			case *ast.BasicLit:
				name, _ = strconv.Unquote(a.Value)
			}
			if name == "" {
				t.Errorf("%s: failpoint marker with a name that is not a mutants constant", path)
				return true
			}
			rel, _ := filepath.Rel("..", filepath.Dir(path))
			full := module + "core/" + filepath.ToSlash(rel) + "/" + name
			found[full] = append(found[full], path)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range All {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		if m.What == "" || m.Checker == "" {
			t.Errorf("%s: description or checker missing", m.Name)
		}
		if n := len(found[m.Failpoint()]); n != 1 {
			t.Errorf("%s: %d markers, want 1 (%v)", m.Failpoint(), n, found[m.Failpoint()])
		}
		delete(found, m.Failpoint())
	}
	for fp, files := range found {
		t.Errorf("failpoint %s (%v) is not in mutants.All", fp, files)
	}
	if len(All) < 8 {
		t.Errorf("%d planted bugs, want at least 8", len(All))
	}
}

func isSel(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok || s.Sel.Name != name {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg
}
