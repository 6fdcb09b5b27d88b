package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func mode(t *testing.T, file string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func readFile(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkNode checks that node's certificate chains to the CA in caFile, for
// both server and client authentication, names exactly the hosts, matches
// its key, and that the key is private to its owner.
func checkNode(t *testing.T, dir, node, caFile string, ips []string, names []string) {
	t.Helper()
	crt, key := filepath.Join(dir, node+".crt"), filepath.Join(dir, node+".key")
	cert := readCert(t, crt)
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, caFile))
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("%s does not chain to %s for usage %v: %v", crt, caFile, usage, err)
		}
	}
	for _, h := range append(append([]string{}, ips...), names...) {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", crt, err)
		}
	}
	var gotIPs []string
	for _, ip := range cert.IPAddresses {
		gotIPs = append(gotIPs, ip.String())
	}
	if !slices.Equal(gotIPs, ips) || !slices.Equal(cert.DNSNames, names) {
		t.Errorf("%s: SANs %v %v, want %v %v", crt, gotIPs, cert.DNSNames, ips, names)
	}
	if cert.Subject.CommonName != node || cert.IsCA {
		t.Errorf("%s: CN %q, CA %v", crt, cert.Subject.CommonName, cert.IsCA)
	}
	if _, err := tls.LoadX509KeyPair(crt, key); err != nil {
		t.Errorf("%s and %s: %v", crt, key, err)
	}
	if m := mode(t, key); m != 0o600 {
		t.Errorf("%s mode %v, want 0600", key, m)
	}
}

func TestCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	ca, caKey, clusterKey := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), filepath.Join(dir, "cluster.key")
	began := time.Now()
	// --ca naming a file that does not exist yet (as $WHARF_CA may) does
	// not stop the command that makes it.
	r := runWith(t, nil, nil, "", "certs", "--ca", ca, "--dir", dir, "--hosts", "127.0.0.1,localhost", "node1", "node2", "node3")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	abs, _ := filepath.Abs(ca)
	for _, want := range []string{"created CA " + ca, "node3: certificate " + filepath.Join(dir, "node3.crt"), "created cluster key " + clusterKey, "export WHARF_CA=" + abs} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	caCert := readCert(t, ca)
	if !caCert.IsCA || caCert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("ca.crt is not a CA: IsCA %v, usage %v", caCert.IsCA, caCert.KeyUsage)
	}
	if pub, ok := caCert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", caCert.PublicKey)
	}
	if years := caCert.NotAfter.Sub(began).Hours() / 24 / 365; years < 9.9 || years > 10.1 {
		t.Errorf("CA valid for %.1f years, want 10", years)
	}
	for _, n := range []string{"node1", "node2", "node3"} {
		checkNode(t, dir, n, ca, []string{"127.0.0.1"}, []string{"localhost"})
	}
	for _, f := range []string{caKey, clusterKey} {
		if m := mode(t, f); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, m)
		}
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("directory mode %v, want 0700", m)
	}
	key := strings.TrimSpace(string(readFile(t, clusterKey)))
	if b, err := hex.DecodeString(key); err != nil || len(b) != 32 {
		t.Errorf("cluster.key %q is not 64 hex digits", key)
	}

	// Again without --force: the CA stays and signs the new certificates;
	// the cluster key stays.
	caPEM, keyPEM := readFile(t, ca), readFile(t, clusterKey)
	r = runWith(t, nil, nil, "", "certs", "--dir", dir, "--hosts", "10.0.0.4,node4.example", "node4")
	if r.code != 0 || !strings.Contains(r.stdout, "using existing CA") || !strings.Contains(r.stdout, "kept cluster key") {
		t.Fatalf("second run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !bytes.Equal(readFile(t, ca), caPEM) {
		t.Error("ca.crt overwritten without --force")
	}
	checkNode(t, dir, "node4", ca, []string{"10.0.0.4"}, []string{"node4.example"})

	// --force: a new CA, and certificates from it; the old CA no longer
	// verifies them. The cluster key is still kept.
	old := filepath.Join(t.TempDir(), "old-ca.crt")
	if err := os.WriteFile(old, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runWith(t, nil, nil, "", "certs", "--dir", dir, "--force", "--hosts", "127.0.0.1", "node1")
	if r.code != 0 || !strings.Contains(r.stdout, "created CA") {
		t.Fatalf("--force: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if bytes.Equal(readFile(t, ca), caPEM) {
		t.Fatal("--force kept the old CA")
	}
	checkNode(t, dir, "node1", ca, []string{"127.0.0.1"}, nil)
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, old))
	if _, err := readCert(t, filepath.Join(dir, "node1.crt")).Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("the new node1 certificate verifies against the old CA")
	}
	if !bytes.Equal(readFile(t, clusterKey), keyPEM) {
		t.Error("--force replaced the cluster key")
	}

	// Half a CA is refused without --force, and left as it is.
	if err := os.Remove(caKey); err != nil {
		t.Fatal(err)
	}
	caPEM = readFile(t, ca)
	r = runWith(t, nil, nil, "", "certs", "--dir", dir, "node5")
	if r.code != 1 || !strings.Contains(r.stderr, "refusing to overwrite "+ca) {
		t.Errorf("CA without its key: exit %d, stderr %q", r.code, r.stderr)
	}
	if !bytes.Equal(readFile(t, ca), caPEM) {
		t.Error("ca.crt overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, "node5.crt")); err == nil {
		t.Error("node5 issued without a CA key")
	}
}

func TestCertsBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--hosts", "not a host!", "node1"}, 1, `"not a host!"`},
		{[]string{"ca"}, 1, `node name "ca"`},
		{[]string{"cluster"}, 1, `node name "cluster"`},
		{[]string{"../escape"}, 1, `node name "../escape"`},
		{[]string{"n1", "n1"}, 1, "given twice"},
		{[]string{"--days", "0", "n1"}, 2, "--days"},
	} {
		r := runWith(t, nil, nil, "", append([]string{"certs", "--dir", dir}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d naming %s", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// tlsCLI runs the CLI as main does (dialing through transport/client with
// the CA loaded from --ca), with WHARF_CA given as ca.
func tlsCLI(t *testing.T, ca string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{in: strings.NewReader(""), out: &out, errOut: &errOut, endpoint: client.DefaultEndpoint, ca: ca}
	c.dial = func(endpoints []string) wharfv1.QueueService {
		return client.New(endpoints, client.WithCA(c.caPool), client.WithAttempts(1))
	}
	code := c.run(context.Background(), args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestCAFlag(t *testing.T) {
	dir := t.TempDir()
	if r := runWith(t, nil, nil, "", "certs", "--dir", dir, "--hosts", "127.0.0.1", "node1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node1.crt"), filepath.Join(dir, "node1.key"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &fakeService{pages: map[string]*wharfv1.ListQueuesResponse{"": {Queues: []string{"over-tls"}}}}
	srv := httptest.NewUnstartedServer(wharfv1.NewQueueServiceServer(svc))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(dir, "ca.crt")

	// --ca before or after the command, or WHARF_CA.
	for _, r := range []result{
		tlsCLI(t, "", "--endpoint", srv.URL, "--ca", ca, "queue", "list"),
		tlsCLI(t, "", "queue", "list", "--endpoint", srv.URL, "--ca", ca),
		tlsCLI(t, ca, "--endpoint", srv.URL, "queue", "list"),
	} {
		if r.code != 0 || r.stdout != "over-tls\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	}
	calls := len(svc.requests)

	// No CA: the system's roots do not know this one.
	if r := tlsCLI(t, "", "--endpoint", srv.URL, "queue", "list"); r.code != 1 || !strings.Contains(r.stderr, "certificate signed by unknown authority") {
		t.Errorf("no CA: exit %d, stderr %q", r.code, r.stderr)
	}
	// A bad CA file is named, and no request is made.
	missing := filepath.Join(dir, "missing.crt")
	for _, r := range []result{
		tlsCLI(t, "", "--endpoint", srv.URL, "queue", "list", "--ca", missing),
		tlsCLI(t, missing, "--endpoint", srv.URL, "queue", "list"),
		tlsCLI(t, filepath.Join(dir, "node1.key"), "--endpoint", srv.URL, "queue", "list"),
	} {
		if r.code != 1 || !strings.Contains(r.stderr, "--ca") || !strings.Contains(r.stderr, dir) {
			t.Errorf("bad CA: exit %d, stderr %q", r.code, r.stderr)
		}
	}
	if len(svc.requests) != calls {
		t.Errorf("%d requests reached the server without a trusted CA", len(svc.requests)-calls)
	}
}
