package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKeyID  = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var testCreds = Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}

func testLookup(id string) (string, bool) {
	if id == testKeyID {
		return testSecret, true
	}
	return "", false
}

// verifyServer verifies every request it gets, at the time now returns,
// and answers 200 with the access key id or 401 with the error; the
// verdict also goes to the returned channel.
func verifyServer(t *testing.T, now func() time.Time) (*httptest.Server, <-chan error) {
	t.Helper()
	verdicts := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		id, err := Verify(r, body, testLookup, now())
		if err == nil && id != testKeyID {
			err = errors.New("verified as " + id)
		}
		verdicts <- err
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, id)
	}))
	t.Cleanup(srv.Close)
	return srv, verdicts
}

// sdkSign signs req (with body) as the AWS SDK for Go v2 does for SQS.
func sdkSign(t *testing.T, req *http.Request, body []byte, secret string, at time.Time) {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: secret}
	if err := awsv4.NewSigner().SignHTTP(context.Background(), creds, req, PayloadHash(body), "sqs", "eu-west-3", at); err != nil {
		t.Fatalf("SDK sign: %v", err)
	}
}

func newRequest(t *testing.T, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	return req
}

func send(t *testing.T, req *http.Request, verdicts <-chan error) error {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	resp.Body.Close()
	select {
	case err := <-verdicts:
		if (err == nil) != (resp.StatusCode == http.StatusOK) {
			t.Fatalf("status %d with verdict %v", resp.StatusCode, err)
		}
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no verdict")
		return nil
	}
}

func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a refusal with reason %q", err, want)
	}
	if e.Reason != want {
		t.Fatalf("got reason %q (%v), want %q", e.Reason, err, want)
	}
}

// A request the AWS SDK signs verifies, whatever its path, query and
// headers; changing any signed part of it afterwards breaks it.
func TestSDKSignedRequests(t *testing.T) {
	now := time.Now()
	srv, verdicts := verifyServer(t, func() time.Time { return now })
	body := []byte(`{"QueueUrl":"http://x/000000000000/orders-1","MessageBody":"hello"}`)

	for _, path := range []string{"/", "/000000000000/orders-1", "/twirp/wharf.v1.QueueService/SendMessage", "/a%20b/c%2Fd/é"} {
		req := newRequest(t, srv.URL+path+"?b=2&a=1&a=0&sp=x%20y", body)
		sdkSign(t, req, body, testSecret, now)
		if err := send(t, req, verdicts); err != nil {
			t.Errorf("path %q: SDK-signed request refused: %v", path, err)
		}
	}
	// An empty body (a GET, a form without fields) too.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/?Action=ListQueues", nil)
	sdkSign(t, req, nil, testSecret, now)
	if err := send(t, req, verdicts); err != nil {
		t.Errorf("SDK-signed GET refused: %v", err)
	}

	tamper := map[string]func(req *http.Request) *http.Request{
		"body": func(req *http.Request) *http.Request {
			b := bytes.Replace(body, []byte("hello"), []byte("hellp"), 1)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			return req
		},
		"signed header": func(req *http.Request) *http.Request {
			req.Header.Set("X-Amz-Target", "AmazonSQS.PurgeQueue")
			return req
		},
		"path": func(req *http.Request) *http.Request {
			req.URL.Path = "/000000000000/payments"
			return req
		},
		"query": func(req *http.Request) *http.Request {
			req.URL.RawQuery = "Action=PurgeQueue"
			return req
		},
		"date": func(req *http.Request) *http.Request {
			req.Header.Set(HeaderDate, now.Add(time.Second).UTC().Format(timeFormat))
			return req
		},
		"method": func(req *http.Request) *http.Request {
			req.Method = http.MethodPut
			return req
		},
	}
	for name, change := range tamper {
		t.Run("tampered "+name, func(t *testing.T) {
			req := newRequest(t, srv.URL+"/000000000000/orders-1", body)
			sdkSign(t, req, body, testSecret, now)
			wantReason(t, send(t, change(req), verdicts), BadSignature)
		})
	}

	// The wrong secret.
	req = newRequest(t, srv.URL+"/", body)
	sdkSign(t, req, body, testSecret+"x", now)
	wantReason(t, send(t, req, verdicts), BadSignature)
}

// Sign produces the same signature as the AWS SDK for the same request,
// and its requests verify.
func TestSignMatchesSDK(t *testing.T) {
	now := time.Date(2026, 12, 4, 17, 30, 0, 0, time.UTC)
	body := []byte("\x0a\x08orders-1\x12\x05hello")
	url := "http://127.0.0.1:7070/twirp/wharf.v1.QueueService/SendMessage"

	ours, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	ours.Header.Set("Content-Type", "application/protobuf")
	if err := Sign(ours, body, testCreds, "eu-west-3", "sqs", now); err != nil {
		t.Fatal(err)
	}
	theirs, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	theirs.Header.Set("Content-Type", "application/protobuf")
	theirs.Header.Set(HeaderContentSHA256, PayloadHash(body))
	sdkSign(t, theirs, body, testSecret, now)
	if a, b := ours.Header.Get(HeaderAuthorization), theirs.Header.Get(HeaderAuthorization); a != b {
		t.Fatalf("signatures differ:\nours   %s\nthe SDK %s", a, b)
	}
}

func TestSignerVerifies(t *testing.T) {
	now := time.Now()
	srv, verdicts := verifyServer(t, func() time.Time { return now })
	body := []byte("a body")
	for name, tc := range map[string]struct {
		signer *Signer
		want   Reason
	}{
		"good":          {&Signer{Credentials: testCreds, Now: func() time.Time { return now }}, 0},
		"unknown key":   {&Signer{Credentials: Credentials{"AKIDOTHER", testSecret}, Now: func() time.Time { return now }}, UnknownKey},
		"wrong secret":  {&Signer{Credentials: Credentials{testKeyID, "nope"}, Now: func() time.Time { return now }}, BadSignature},
		"expired":       {&Signer{Credentials: testCreds, Now: func() time.Time { return now.Add(-DefaultMaxSkew - time.Minute) }}, Expired},
		"in the future": {&Signer{Credentials: testCreds, Now: func() time.Time { return now.Add(DefaultMaxSkew + time.Minute) }}, Skewed},
		"other service": {&Signer{Credentials: testCreds, Service: "s3", Now: func() time.Time { return now }}, Malformed},
		"just in time":  {&Signer{Credentials: testCreds, Now: func() time.Time { return now.Add(-DefaultMaxSkew + time.Second) }}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/twirp/x", bytes.NewReader(body))
			tc.signer.Next = http.DefaultClient
			resp, err := tc.signer.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			err = <-verdicts
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantReason(t, err, tc.want)
		})
	}
}

// The RoundTripper form signs through an http.Client, retries included
// (the body is buffered, so a redirect or retry can send it again).
func TestTransport(t *testing.T) {
	srv, verdicts := verifyServer(t, time.Now)
	hc := &http.Client{Transport: Transport(&Signer{Credentials: testCreds}, nil)}
	resp, err := hc.Post(srv.URL+"/twirp/x", "application/json", strings.NewReader(`{"queue":"q"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-verdicts; err != nil {
		t.Fatalf("refused: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	now := time.Now()
	srv, verdicts := verifyServer(t, func() time.Time { return now })
	signed := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", strings.NewReader("body"))
		if err := Sign(req, []byte("body"), testCreds, "r", "sqs", now); err != nil {
			t.Fatal(err)
		}
		return req
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", strings.NewReader("body"))
	wantReason(t, send(t, req, verdicts), Missing)

	for name, change := range map[string]func(*http.Request){
		"other algorithm": func(r *http.Request) { r.Header.Set(HeaderAuthorization, "AWS4-HMAC-SHA512 Credential=x") },
		"garbage":         func(r *http.Request) { r.Header.Set(HeaderAuthorization, "AWS4-HMAC-SHA256 what") },
		"short credential": func(r *http.Request) {
			r.Header.Set(HeaderAuthorization, strings.Replace(r.Header.Get(HeaderAuthorization), "/sqs/aws4_request", "/sqs", 1))
		},
		"no host signed": func(r *http.Request) {
			r.Header.Set(HeaderAuthorization, strings.Replace(r.Header.Get(HeaderAuthorization), "host;", "", 1))
		},
		"no date": func(r *http.Request) { r.Header.Del(HeaderDate) },
		"unsigned payload": func(r *http.Request) {
			r.Header.Set(HeaderContentSHA256, unsignedPayload)
		},
		"scope date": func(r *http.Request) {
			r.Header.Set(HeaderAuthorization, strings.Replace(r.Header.Get(HeaderAuthorization), now.UTC().Format(dateFormat), "20000101", 1))
		},
	} {
		req := signed()
		change(req)
		err := send(t, req, verdicts)
		var e *Error
		if !errors.As(err, &e) || (e.Reason != Malformed && e.Reason != BadSignature) {
			t.Errorf("%s: got %v, want malformed (or a bad signature)", name, err)
		}
	}
	// A body that does not match its declared hash.
	req = signed()
	req.Header.Set(HeaderContentSHA256, PayloadHash([]byte("other")))
	wantReason(t, send(t, req, verdicts), BadSignature)
}

// Sign refuses what the Authorization header could not carry back to the
// verifier: a header name that is not an HTTP token (FuzzSignVerify found
// ",", which broke SignedHeaders), or a scope part holding a separator.
func TestSignRefusesWhatAuthorizationCannotCarry(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/x", nil)
	req.Header.Set(",", "0")
	if err := Sign(req, nil, testCreds, DefaultRegion, Service, time.Now()); err == nil || !strings.Contains(err.Error(), `header ","`) {
		t.Errorf("header \",\": %v", err)
	}
	req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1/x", nil)
	if err := Sign(req, nil, testCreds, "eu/west", Service, time.Now()); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("region eu/west: %v", err)
	}
}
