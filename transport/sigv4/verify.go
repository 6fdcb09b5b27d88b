package sigv4

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Reason says why a request's signature was refused.
type Reason int

const (
	// Missing: the request carries no Authorization header.
	Missing Reason = iota + 1
	// Malformed: the Authorization header, the date or the credential
	// scope is not what SigV4 (as served here) asks.
	Malformed
	// UnknownKey: no key has the access key id (or it was revoked).
	UnknownKey
	// BadSignature: the signature does not match the request: a wrong
	// secret, or a request changed after it was signed.
	BadSignature
	// Skewed: the request is dated further in the future than the
	// allowed clock skew.
	Skewed
	// Expired: the request is dated further in the past than the allowed
	// clock skew (a replayed or long-delayed request).
	Expired
)

func (r Reason) String() string {
	switch r {
	case Missing:
		return "missing signature"
	case Malformed:
		return "malformed signature"
	case UnknownKey:
		return "unknown access key"
	case BadSignature:
		return "signature does not match"
	case Skewed:
		return "request time too skewed"
	case Expired:
		return "signature expired"
	default:
		return fmt.Sprintf("reason %d", int(r))
	}
}

// Error is a refused signature: why, and for which key when known.
type Error struct {
	Reason      Reason
	AccessKeyID string // empty when the header did not name one
	Detail      string
}

func (e *Error) Error() string {
	msg := e.Reason.String()
	if e.AccessKeyID != "" {
		msg += " (access key " + e.AccessKeyID + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func refuse(r Reason, keyID, format string, args ...any) *Error {
	return &Error{Reason: r, AccessKeyID: keyID, Detail: fmt.Sprintf(format, args...)}
}

// Lookup returns the secret of an access key id; ok is false for an
// unknown (or revoked) key.
type Lookup func(accessKeyID string) (secret string, ok bool)

// Verifier checks signatures. The zero value checks for service "sqs"
// with DefaultMaxSkew.
type Verifier struct {
	// MaxSkew is how far the request's date may be from now, either way;
	// 0 means DefaultMaxSkew. The SQS door may pass 15 minutes, as AWS.
	MaxSkew time.Duration
	// Service is the service the credential scope must name; "" means
	// Service. Any region is accepted.
	Service string
}

// Verify checks req's signature over body (the whole request body, which
// the caller has read) at now. It returns the access key id the request is
// signed with, or an *Error.
func Verify(req *http.Request, body []byte, lookup Lookup, now time.Time) (string, error) {
	return Verifier{}.Verify(req, body, lookup, now)
}

// Verify is the package's Verify with v's settings.
func (v Verifier) Verify(req *http.Request, body []byte, lookup Lookup, now time.Time) (string, error) {
	p, err := v.Parse(req, now)
	if err != nil {
		return "", err
	}
	secret, ok := lookup(p.AccessKeyID)
	if !ok {
		return "", refuse(UnknownKey, p.AccessKeyID, "no such access key")
	}
	if err := p.Check(body, secret); err != nil {
		return "", err
	}
	return p.AccessKeyID, nil
}

// Parsed is a request whose Authorization header, date and scope were
// checked, but not yet its signature. Parse then Check lets a server find
// the key and refuse a stranger before it reads a large body.
type Parsed struct {
	// AccessKeyID is the key the request claims to be signed with.
	AccessKeyID string
	// Region is the credential scope's region.
	Region string
	// Time is the request's date.
	Time time.Time

	req           *http.Request
	scope         scope
	amzDate       string
	signedHeaders []string
	signature     string
}

// Parse checks the shape of req's Authorization header, its credential
// scope and its date (against now and the allowed skew).
func (v Verifier) Parse(req *http.Request, now time.Time) (*Parsed, error) {
	maxSkew, service := v.MaxSkew, v.Service
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if service == "" {
		service = Service
	}
	auth := req.Header.Get(HeaderAuthorization)
	if auth == "" {
		if req.URL.Query().Has("X-Amz-Signature") {
			return nil, refuse(Malformed, "", "presigned (query string) signatures are not supported; sign with an Authorization header")
		}
		return nil, refuse(Missing, "", "the request has no Authorization header; sign it with an access key (AWS Signature Version 4)")
	}
	alg, fields, _ := strings.Cut(auth, " ")
	if alg != Algorithm {
		return nil, refuse(Malformed, "", "Authorization must start with %s", Algorithm)
	}
	p := &Parsed{req: req}
	var credential, signedHeaders string
	for _, f := range strings.Split(fields, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return nil, refuse(Malformed, "", "Authorization field %q is not name=value", strings.TrimSpace(f))
		}
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			signedHeaders = val
		case "Signature":
			p.signature = val
		default:
			return nil, refuse(Malformed, "", "unknown Authorization field %q", k)
		}
	}
	if credential == "" || signedHeaders == "" || p.signature == "" {
		return nil, refuse(Malformed, "", "Authorization needs Credential, SignedHeaders and Signature")
	}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != scopeTerminator {
		return nil, refuse(Malformed, "", "Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/%s", scopeTerminator)
	}
	p.AccessKeyID = parts[0]
	p.scope = scope{date: parts[1], region: parts[2], service: parts[3]}
	p.Region = p.scope.region
	if p.scope.service != service {
		return nil, refuse(Malformed, p.AccessKeyID, "the credential scope names service %q; sign for %q", p.scope.service, service)
	}
	if p.scope.region == "" {
		return nil, refuse(Malformed, p.AccessKeyID, "the credential scope names no region")
	}
	if len(p.signature) != 64 || strings.Trim(p.signature, "0123456789abcdef") != "" {
		return nil, refuse(Malformed, p.AccessKeyID, "Signature must be 64 lower-case hex digits")
	}
	p.signedHeaders = strings.Split(signedHeaders, ";")
	hasHost := false
	for i, h := range p.signedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && p.signedHeaders[i-1] >= h) {
			return nil, refuse(Malformed, p.AccessKeyID, "SignedHeaders must be distinct lower-case names in order, got %q", signedHeaders)
		}
		hasHost = hasHost || h == "host"
	}
	if !hasHost {
		return nil, refuse(Malformed, p.AccessKeyID, "SignedHeaders must include host")
	}

	if err := p.readDate(); err != nil {
		return nil, err
	}
	if p.Time.Format(dateFormat) != p.scope.date {
		return nil, refuse(Malformed, p.AccessKeyID, "the credential scope's date %s is not the request's (%s)", p.scope.date, p.amzDate)
	}
	switch d := now.Sub(p.Time); {
	case d > maxSkew:
		return nil, refuse(Expired, p.AccessKeyID, "signed at %s, %s before the server's time %s (at most %s allowed)",
			p.amzDate, d.Round(time.Second), now.UTC().Format(timeFormat), maxSkew)
	case -d > maxSkew:
		return nil, refuse(Skewed, p.AccessKeyID, "signed at %s, %s after the server's time %s (at most %s allowed)",
			p.amzDate, (-d).Round(time.Second), now.UTC().Format(timeFormat), maxSkew)
	}
	return p, nil
}

// readDate takes the request's time from X-Amz-Date, or else from Date.
func (p *Parsed) readDate() error {
	if d := p.req.Header.Get(HeaderDate); d != "" {
		t, err := time.Parse(timeFormat, d)
		if err != nil {
			return refuse(Malformed, p.AccessKeyID, "%s %q is not YYYYMMDDTHHMMSSZ", HeaderDate, d)
		}
		p.Time, p.amzDate = t, d
		return nil
	}
	if d := p.req.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return refuse(Malformed, p.AccessKeyID, "Date %q is not an HTTP date", d)
		}
		p.Time, p.amzDate = t.UTC(), t.UTC().Format(timeFormat)
		return nil
	}
	return refuse(Malformed, p.AccessKeyID, "the request has neither %s nor Date", HeaderDate)
}

// Check verifies the signature over body with the key's secret.
func (p *Parsed) Check(body []byte, secret string) error {
	payloadHash := PayloadHash(body)
	if claimed := p.req.Header.Get(HeaderContentSHA256); claimed != "" {
		if claimed == unsignedPayload {
			return refuse(Malformed, p.AccessKeyID, "%s %s is not accepted: the body must be signed", HeaderContentSHA256, unsignedPayload)
		}
		if claimed != payloadHash {
			return refuse(BadSignature, p.AccessKeyID, "the body does not match %s", HeaderContentSHA256)
		}
	}
	want := signature(secret, p.scope, p.amzDate, canonicalRequest(p.req, p.signedHeaders, payloadHash))
	if subtle.ConstantTimeCompare([]byte(want), []byte(p.signature)) != 1 {
		return refuse(BadSignature, p.AccessKeyID, "check the secret access key; the request may have been changed after it was signed")
	}
	return nil
}
