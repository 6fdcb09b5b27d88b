package tlsfiles_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/transport/certgen"
	"github.com/wharfmq/wharf/transport/tlsfiles"
)

// certDir makes a CA and the named nodes' certificates (valid for
// 127.0.0.1) in a new directory.
func certDir(t *testing.T, nodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certgen.MakeDir(certgen.Request{Dir: dir, Nodes: nodes, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadPair(t *testing.T, dir, node string) *tlsfiles.Pair {
	t.Helper()
	p, err := tlsfiles.LoadPair(filepath.Join(dir, node+".crt"), filepath.Join(dir, node+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadCA(t *testing.T, dir string) *tlsfiles.CA {
	t.Helper()
	ca, err := tlsfiles.LoadCA(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPairErrorsNameTheFile(t *testing.T) {
	dir := certDir(t, "n1")
	crt, key := filepath.Join(dir, "n1.crt"), filepath.Join(dir, "n1.key")
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := certDir(t, "n1")
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "nope.crt"), key, "nope.crt"},
		{"missing key", crt, filepath.Join(dir, "nope.key"), "nope.key"},
		{"cert not PEM", garbage, key, garbage},
		{"key not PEM", crt, garbage, garbage},
		{"key is a certificate", crt, crt, crt},
		{"key of another certificate", crt, filepath.Join(other, "n1.key"), filepath.Join(other, "n1.key")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsfiles.LoadPair(tc.cert, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadPair: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestPairReload(t *testing.T) {
	dir := certDir(t, "a", "b")
	crt, key := filepath.Join(t.TempDir(), "api.crt"), filepath.Join(t.TempDir(), "api.key")
	copyFile(t, filepath.Join(dir, "a.crt"), crt)
	copyFile(t, filepath.Join(dir, "a.key"), key)
	p, err := tlsfiles.LoadPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	if cn := p.Certificate().Leaf.Subject.CommonName; cn != "a" {
		t.Fatalf("loaded %q, want a", cn)
	}

	// A certificate swapped without its key: the reload fails, naming
	// both files, and the old pair stays.
	copyFile(t, filepath.Join(dir, "b.crt"), crt)
	err = p.Reload()
	if err == nil || !strings.Contains(err.Error(), crt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("reload of a mismatched pair: %v", err)
	}
	got, _ := p.GetCertificate(nil)
	if cn := got.Leaf.Subject.CommonName; cn != "a" {
		t.Fatalf("after a failed reload the server presents %q, want the old a", cn)
	}
	// A key file gone: same.
	os.Remove(key)
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("reload without the key: %v", err)
	}
	// Both swapped: the new pair.
	copyFile(t, filepath.Join(dir, "b.key"), key)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	got, _ = p.GetClientCertificate(nil)
	if cn := got.Leaf.Subject.CommonName; cn != "b" {
		t.Fatalf("after the reload: %q, want b", cn)
	}
}

func TestLoadCAPoolErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
	}{
		{"empty", ""},
		{"not PEM", "hello"},
		{"a key only", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"corrupt certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".pem")
			if err := os.WriteFile(f, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := tlsfiles.LoadCAPool(f); err == nil || !strings.Contains(err.Error(), f) {
				t.Fatalf("LoadCAPool: %v, want an error naming %s", err, f)
			}
		})
	}
	missing := filepath.Join(dir, "missing.pem")
	if _, err := tlsfiles.LoadCAPool(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("LoadCAPool of a missing file: %v", err)
	}
}

// handshake runs one TLS handshake between the two configs over a local
// TCP connection and returns the client's and the server's errors.
func handshake(t *testing.T, server, client *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3: the client's certificate is checked after the
			// client's handshake returns; read so that the client sees
			// a rejection.
			_, err = tc.Write([]byte("x"))
		}
		done <- err
	}()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: client}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	return err, <-done
}

func TestMutualTLS(t *testing.T) {
	cluster := certDir(t, "n1", "n2")
	stranger := certDir(t, "n1")
	ca := loadCA(t, cluster)
	n1, n2 := loadPair(t, cluster, "n1"), loadPair(t, cluster, "n2")
	server := tlsfiles.MutualServerConfig(n1, ca)

	if cerr, serr := handshake(t, server, tlsfiles.MutualClientConfig(n2, ca, "127.0.0.1:7071")); cerr != nil || serr != nil {
		t.Fatalf("two nodes of the cluster: client %v, server %v", cerr, serr)
	}

	// A client with a certificate from another CA is refused by the server.
	cerr, serr := handshake(t, server, tlsfiles.MutualClientConfig(loadPair(t, stranger, "n1"), ca, "127.0.0.1"))
	if serr == nil || cerr == nil {
		t.Fatalf("client with a stranger's certificate: client %v, server %v; want both to fail", cerr, serr)
	}
	if !strings.Contains(serr.Error(), "unknown authority") {
		t.Errorf("server's error %v does not say unknown authority", serr)
	}

	// A client with no certificate at all is refused.
	noCert := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if cerr, serr := handshake(t, server, noCert); serr == nil || cerr == nil {
		t.Fatalf("client without a certificate: client %v, server %v; want both to fail", cerr, serr)
	}

	// A server whose certificate another CA signed is refused by the client.
	strangerServer := tlsfiles.MutualServerConfig(loadPair(t, stranger, "n1"), ca)
	cerr, _ = handshake(t, strangerServer, tlsfiles.MutualClientConfig(n2, ca, "127.0.0.1:7071"))
	if cerr == nil || !strings.Contains(cerr.Error(), "unknown authority") {
		t.Fatalf("server with a stranger's certificate: client %v, want unknown authority", cerr)
	}

	// The server's certificate must be valid for the address dialed.
	cerr, _ = handshake(t, server, tlsfiles.MutualClientConfig(n2, ca, "node9.example:7071"))
	if cerr == nil || !strings.Contains(cerr.Error(), "node9.example") {
		t.Fatalf("server certificate not valid for the host dialed: client %v", cerr)
	}
}

func TestMutualTLSFollowsReloads(t *testing.T) {
	old := certDir(t, "n1", "n2")
	fresh := certDir(t, "n1", "n2") // a new CA: a rotation
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "n1.crt", "n1.key", "n2.crt", "n2.key"} {
		copyFile(t, filepath.Join(old, f), filepath.Join(dir, f))
	}
	ca, n1, n2 := loadCA(t, dir), loadPair(t, dir, "n1"), loadPair(t, dir, "n2")
	var rs tlsfiles.Reloaders
	rs.Add(ca)
	rs.Add(n1)
	rs.Add(n2)
	server := tlsfiles.MutualServerConfig(n1, ca)
	client := func() *tls.Config { return tlsfiles.MutualClientConfig(n2, ca, "127.0.0.1:7071") }
	if cerr, serr := handshake(t, server, client()); cerr != nil || serr != nil {
		t.Fatalf("before rotation: client %v, server %v", cerr, serr)
	}
	for _, f := range []string{"ca.crt", "n1.crt", "n1.key", "n2.crt", "n2.key"} {
		copyFile(t, filepath.Join(fresh, f), filepath.Join(dir, f))
	}
	if err := rs.Reload(); err != nil {
		t.Fatal(err)
	}
	// The same server config and a client config built as before now
	// trust only the new CA and present the new certificates.
	if cerr, serr := handshake(t, server, client()); cerr != nil || serr != nil {
		t.Fatalf("after rotation: client %v, server %v", cerr, serr)
	}
	oldClient := tlsfiles.MutualClientConfig(loadPair(t, old, "n2"), loadCA(t, old), "127.0.0.1")
	if cerr, serr := handshake(t, server, oldClient); cerr == nil && serr == nil {
		t.Fatal("a client of the old CA still accepted after the rotation")
	}

	// One member failing does not stop the others, and the error names it.
	os.Remove(filepath.Join(dir, "n1.key"))
	copyFile(t, filepath.Join(old, "ca.crt"), filepath.Join(dir, "ca.crt"))
	err := rs.Reload()
	if err == nil || !strings.Contains(err.Error(), "n1.key") {
		t.Fatalf("Reload with n1.key gone: %v", err)
	}
	if !ca.Pool().Equal(loadCA(t, old).Pool()) {
		t.Error("the CA after n1's pair failed was not reloaded")
	}
	if rs.Len() != 3 {
		t.Errorf("Len = %d", rs.Len())
	}
}

func TestServerConfig(t *testing.T) {
	dir := certDir(t, "n1")
	cfg := tlsfiles.ServerConfig(loadPair(t, dir, "n1"))
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	client := tlsfiles.ClientConfig(loadCA(t, dir).Pool())
	client.ServerName = "127.0.0.1"
	if cerr, serr := handshake(t, cfg, client); cerr != nil || serr != nil {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	old := tlsfiles.ClientConfig(loadCA(t, dir).Pool())
	old.MaxVersion = tls.VersionTLS11
	if cerr, _ := handshake(t, cfg, old); cerr == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
}

func TestLoadMutual(t *testing.T) {
	dir := certDir(t, "n1", "n2")
	f := func(name string) string { return filepath.Join(dir, name) }
	m1, err := tlsfiles.LoadMutual(f("ca.crt"), f("n1.crt"), f("n1.key"))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := tlsfiles.LoadMutual(f("ca.crt"), f("n2.crt"), f("n2.key"))
	if err != nil {
		t.Fatal(err)
	}
	if cerr, serr := handshake(t, m1.ServerConfig(), m2.ClientConfig("127.0.0.1:7071")); cerr != nil || serr != nil {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	var rs tlsfiles.Reloaders
	rs.Add(m1)
	if err := rs.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][3]string{
		{f("missing-ca.crt"), f("n1.crt"), f("n1.key")},
		{f("ca.crt"), f("n1.crt"), f("missing.key")},
	} {
		if _, err := tlsfiles.LoadMutual(tc[0], tc[1], tc[2]); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("LoadMutual(%q): %v", tc, err)
		}
	}
	os.Remove(f("n1.key"))
	if err := m1.Reload(); err == nil || !strings.Contains(err.Error(), "n1.key") {
		t.Errorf("Reload without the key: %v", err)
	}
}
