package certgen_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/transport/certgen"
)

func TestParseHosts(t *testing.T) {
	ips, names, err := certgen.ParseHosts([]string{" 127.0.0.1", "::1", "localhost", "*.wharf.example", "", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 2 || len(names) != 2 || names[1] != "*.wharf.example" {
		t.Fatalf("ips %v names %v", ips, names)
	}
	for _, bad := range []string{"a b", "-lead", "x..y", "under_score", strings.Repeat("a", 64) + ".example"} {
		if _, _, err := certgen.ParseHosts([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseHosts(%q): %v", bad, err)
		}
	}
}

func TestIssue(t *testing.T) {
	now := time.Now()
	ca, err := certgen.NewAuthority("test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.Issue("n1", nil, now, time.Hour); err == nil {
		t.Error("issued a certificate valid for no host")
	}
	// A node certificate never outlives its CA.
	certPEM, _, err := ca.Issue("n1", []string{"127.0.0.1"}, now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("node certificate valid until %v, after its CA (%v)", cert.NotAfter, ca.Cert.NotAfter)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "n1.crt")
	if err := os.WriteFile(f, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	made, err := certgen.MakeDir(certgen.Request{Dir: filepath.Join(dir, "x"), Nodes: []string{"n"}})
	if err != nil {
		t.Fatal(err)
	}
	// LoadAuthority refuses a node certificate and a key of another CA.
	if _, err := certgen.LoadAuthority(f, made.CAKey); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadAuthority of a node certificate: %v", err)
	}
	other, err := certgen.MakeDir(certgen.Request{Dir: filepath.Join(dir, "y")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certgen.LoadAuthority(made.CACert, other.CAKey); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadAuthority with another CA's key: %v", err)
	}
	a, err := certgen.LoadAuthority(made.CACert, made.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Issue("m", []string{"localhost"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(made.Nodes) != 1 || made.Nodes[0].Cert != filepath.Join(dir, "x", "n.crt") {
		t.Errorf("made %+v", made.Nodes)
	}
}
