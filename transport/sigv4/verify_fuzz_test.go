package sigv4

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"
)

// fuzzNow is the server's clock in the fuzz targets.
var fuzzNow = time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)

// fuzzRequest is a POST to the Twirp door with path and body; a path that
// does not parse as a URL gets the usual one.
func fuzzRequest(path string, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:7070"+path, bytes.NewReader(body))
	if err != nil {
		req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1:7070/twirp/wharf.v1.QueueService/SendMessage", bytes.NewReader(body))
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// FuzzVerify verifies requests whose Authorization, X-Amz-Date, Date and
// X-Amz-Content-Sha256 headers, path and body come from the fuzzer. The
// verifier must not panic, must refuse with an *Error giving a reason,
// and what it accepts must be signed by the test key over this very body.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"queue":"q","body":"hello"}`)
	req := fuzzRequest("/twirp/wharf.v1.QueueService/SendMessage", body)
	if err := Sign(req, body, testCreds, DefaultRegion, Service, fuzzNow); err != nil {
		f.Fatal(err)
	}
	f.Add(req.Header.Get(HeaderAuthorization), req.Header.Get(HeaderDate), "", req.Header.Get(HeaderContentSHA256),
		"/twirp/wharf.v1.QueueService/SendMessage", body)
	f.Add(req.Header.Get(HeaderAuthorization), "", fuzzNow.Format(http.TimeFormat), "", "/twirp/x", body)
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
		"20261204T180000Z", "", "UNSIGNED-PAYLOAD", "/", []byte{})
	f.Add("AWS4-HMAC-SHA256 ,,,==", "2026", "Fri", "", "/%zz?a=%zz&b", []byte("x"))
	f.Add("", "", "", "", "/?X-Amz-Signature=1", []byte(nil))
	f.Fuzz(func(t *testing.T, auth, amzDate, date, contentSHA, path string, body []byte) {
		req := fuzzRequest(path, body)
		for name, v := range map[string]string{HeaderAuthorization: auth, HeaderDate: amzDate, "Date": date, HeaderContentSHA256: contentSHA} {
			if v != "" {
				req.Header.Set(name, v)
			}
		}
		id, err := Verify(req, body, testLookup, fuzzNow)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason < Missing || e.Reason > Expired || e.Error() == "" {
				t.Fatalf("refused with %#v, want an *Error with a reason", err)
			}
			return
		}
		if id != testKeyID {
			t.Fatalf("accepted for key %q", id)
		}
		if _, err := Verify(req, append(body, 'x'), testLookup, fuzzNow); err == nil {
			t.Fatalf("the signature of %q also verifies over another body", auth)
		}
	})
}

// FuzzSignVerify signs requests with fuzzed paths, headers and bodies:
// what Sign signs, Verify must accept (both build the same canonical
// request), and the same request under another secret must not verify.
func FuzzSignVerify(f *testing.F) {
	f.Add("/twirp/wharf.v1.QueueService/SendMessage", "X-Wharf-Request-Id", "r-1", []byte(`{"queue":"q"}`))
	f.Add("/a%20b/c?x=1&x=0&y=%2F", "X-Custom", "  two   spaces  ", []byte{})
	f.Add("/", "Content-Length", "5", []byte("hello"))
	f.Fuzz(func(t *testing.T, path, name, value string, body []byte) {
		req := fuzzRequest(path, body)
		if name != "" {
			req.Header.Set(name, value)
		}
		if err := Sign(req, body, testCreds, DefaultRegion, Service, fuzzNow); err != nil {
			return
		}
		if _, err := Verify(req, body, testLookup, fuzzNow); err != nil {
			t.Fatalf("a request Sign signed does not verify: %v\nAuthorization: %s", err, req.Header.Get(HeaderAuthorization))
		}
		other := func(string) (string, bool) { return "another secret", true }
		if _, err := Verify(req, body, other, fuzzNow); err == nil {
			t.Fatalf("verifies under any secret")
		}
	})
}
