package sigv4

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// unsignedHeaders are never signed: they are set or changed by transports
// and proxies along the way, or, for Authorization, carry the signature.
var unsignedHeaders = map[string]bool{
	"authorization":     true,
	"user-agent":        true,
	"x-amzn-trace-id":   true,
	"expect":            true,
	"transfer-encoding": true,
	"connection":        true,
	"keep-alive":        true,
	"accept-encoding":   true,
	"te":                true,
	"trailer":           true,
	"upgrade":           true,
	"proxy-connection":  true,
}

// Sign signs req, whose body is body (the caller has read it; req.Body is
// left alone), with creds for region and service at now. It sets
// X-Amz-Date, X-Amz-Content-Sha256 and Authorization, signing Host and
// every other header already set except those transports rewrite.
func Sign(req *http.Request, body []byte, creds Credentials, region, service string, now time.Time) error {
	if !creds.Valid() {
		return fmt.Errorf("sigv4: sign: access key id and secret must both be set")
	}
	if region == "" || service == "" {
		return fmt.Errorf("sigv4: sign: region and service must be set")
	}
	// The Authorization header separates the scope's parts with '/' and
	// its fields with ',' and ' ': a part holding one could not be parsed
	// back.
	for _, part := range []struct{ name, value string }{
		{"access key id", creds.AccessKeyID}, {"region", region}, {"service", service},
	} {
		if strings.ContainsAny(part.value, "/, =") {
			return fmt.Errorf("sigv4: sign: %s %q must not contain '/', ',', ' ' or '='", part.name, part.value)
		}
	}
	// SignedHeaders lists the names separated by ';': a name that is not
	// an HTTP token (which net/http would refuse to send anyway) could
	// not be listed.
	for name := range req.Header {
		if !isToken(name) {
			return fmt.Errorf("sigv4: sign: header %q: not a valid HTTP header name", name)
		}
	}
	now = now.UTC()
	amzDate := now.Format(timeFormat)
	payloadHash := PayloadHash(body)
	req.Header.Del(HeaderAuthorization)
	req.Header.Set(HeaderDate, amzDate)
	req.Header.Set(HeaderContentSHA256, payloadHash)

	signed := []string{"host"}
	if len(body) > 0 || req.ContentLength > 0 {
		// Signed from the body's length: the transport sets the header.
		req.ContentLength = int64(len(body))
		signed = append(signed, "content-length")
	}
	for name := range req.Header {
		lower := strings.ToLower(name)
		if !unsignedHeaders[lower] && lower != "host" && lower != "content-length" {
			signed = append(signed, lower)
		}
	}
	sort.Strings(signed)

	s := scope{date: now.Format(dateFormat), region: region, service: service}
	sig := signature(creds.SecretAccessKey, s, amzDate, canonicalRequest(req, signed, payloadHash))
	req.Header.Set(HeaderAuthorization, fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		Algorithm, creds.AccessKeyID, s, strings.Join(signed, ";"), sig))
	return nil
}

// Doer is what sends a request: *http.Client, and the generated Twirp
// clients' HTTPClient.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Signer signs each request it sends with Credentials, then hands it to
// Next. It reads the body whole to hash it, so it works for any encoding
// (Twirp protobuf or JSON). Next defaults to http.DefaultClient.
type Signer struct {
	Next        Doer
	Credentials Credentials
	// Region defaults to DefaultRegion, Service to Service.
	Region  string
	Service string
	// Now is the clock that dates signatures; time.Now if nil.
	Now func() time.Time
}

// Do signs a copy of req and sends it. The caller's request is not
// modified.
func (s *Signer) Do(req *http.Request) (*http.Response, error) {
	signed, err := s.sign(req)
	if err != nil {
		return nil, err
	}
	next := s.Next
	if next == nil {
		next = http.DefaultClient
	}
	return next.Do(signed)
}

// transport is the http.RoundTripper Transport returns.
type transport struct {
	signer *Signer
	next   http.RoundTripper
}

// Transport returns an http.RoundTripper that signs every request with s
// and sends it through next (http.DefaultTransport if nil). s.Next is not
// used.
func Transport(s *Signer, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{signer: s, next: next}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	signed, err := t.signer.sign(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	return t.next.RoundTrip(signed)
}

// sign returns a signed clone of req with its body buffered.
func (s *Signer) sign(req *http.Request) (*http.Request, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, fmt.Errorf("sigv4: read the request body to sign it: %w", err)
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	region, service, now := s.Region, s.Service, time.Now
	if region == "" {
		region = DefaultRegion
	}
	if service == "" {
		service = Service
	}
	if s.Now != nil {
		now = s.Now
	}
	if err := Sign(out, body, s.Credentials, region, service, now()); err != nil {
		return nil, err
	}
	return out, nil
}

// readBody reads req's body without consuming it for a retry: from
// GetBody when the request has one, else from Body (then closed).
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		req.Body.Close()
		return b, err
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), the
// form of a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUnreserved(c) && !strings.ContainsRune("!#$%&'*+^`|", rune(c)) {
			return false
		}
	}
	return true
}
