// Package sigv4 signs and verifies HTTP requests with AWS Signature
// Version 4 (header form: an Authorization: AWS4-HMAC-SHA256 header with an
// X-Amz-Date). Wharf's clients sign every request with an access key; the
// server verifies it against the key's secret. Using AWS's scheme rather
// than one of our own lets the AWS SDKs, which sign SQS requests this way,
// talk to Wharf with the same keys.
//
// The scheme, in short: the request is reduced to a canonical form (method,
// path, sorted query, the headers the client chose to sign, and the SHA-256
// of the body), whose hash is signed with HMAC-SHA256 under a key derived
// from the secret, the date, the region and the service. The signature thus
// covers the body and the signed headers, and is valid only around the
// moment it names.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// Algorithm is the only signing algorithm supported.
	Algorithm = "AWS4-HMAC-SHA256"
	// Service is the service name Wharf signs and expects in a credential
	// scope: the SQS one, so that requests an AWS SDK signs for SQS verify
	// on either of Wharf's doors.
	Service = "sqs"
	// DefaultRegion is the region Wharf's clients put in their scope. The
	// verifier accepts any region: a Wharf cluster is not in one.
	DefaultRegion = "us-east-1"
	// DefaultMaxSkew is how far a request's time may be from the server's
	// clock. AWS allows 15 minutes for most services; Wharf's own door is
	// stricter, since its clients are Wharf's, on synchronised clocks.
	DefaultMaxSkew = 5 * time.Minute

	// HeaderDate, HeaderContentSHA256 and HeaderAuthorization are the
	// headers a signed request carries.
	HeaderDate          = "X-Amz-Date"
	HeaderContentSHA256 = "X-Amz-Content-Sha256"
	HeaderAuthorization = "Authorization"

	// timeFormat is X-Amz-Date's format (ISO 8601 basic, UTC).
	timeFormat = "20060102T150405Z"
	// dateFormat is the credential scope's date.
	dateFormat = "20060102"
	// scopeTerminator ends every credential scope.
	scopeTerminator = "aws4_request"
	// unsignedPayload is what a client puts in X-Amz-Content-Sha256 to
	// leave the body out of the signature; refused here.
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// Credentials are an access key: its public id and its secret.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Valid reports whether both parts are set.
func (c Credentials) Valid() bool { return c.AccessKeyID != "" && c.SecretAccessKey != "" }

// scope is a credential scope: date/region/service/aws4_request.
type scope struct {
	date, region, service string
}

func (s scope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + scopeTerminator
}

// signingKey derives the key that signs for one scope from the secret.
func signingKey(secret string, s scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	return hmacSHA256(k, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// PayloadHash is the hex SHA-256 of a body, as signed.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// signature computes the hex signature of a canonical request.
func signature(secret string, s scope, amzDate, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := Algorithm + "\n" + amzDate + "\n" + s.String() + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(signingKey(secret, s), stringToSign))
}

// canonicalRequest builds the canonical form of req with the given signed
// headers (lower case, sorted) and payload hash.
func canonicalRequest(req *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(req.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(req.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(req.URL))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(req, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalURI is the request's path, URI-encoded once more on top of its
// escaped form: every service but S3 signs the path encoded twice.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return escape(p, false)
}

// canonicalQuery is the query's parameters, each name and value
// URI-encoded, sorted by name then value.
func canonicalQuery(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	// A parameter that does not decode is kept as sent: the signature
	// then covers what the server would have to make sense of.
	q, _ := url.ParseQuery(u.RawQuery)
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, escape(k, true)+"="+escape(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// headerValue is the canonical value of the lower-case header name: its
// values joined by commas, each trimmed with inner runs of spaces
// collapsed. Host and Content-Length live outside Header in a server's
// request, so they are taken from where net/http puts them.
func headerValue(req *http.Request, name string) string {
	switch name {
	case "host":
		if req.Host != "" {
			return req.Host
		}
		return req.URL.Host
	case "content-length":
		if v := req.Header.Values("Content-Length"); len(v) > 0 {
			return canonicalValues(v)
		}
		return strconv.FormatInt(req.ContentLength, 10)
	}
	return canonicalValues(req.Header.Values(name))
}

func canonicalValues(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// escape URI-encodes s as SigV4 asks: every byte but the unreserved ones
// (letters, digits, '-', '.', '_', '~') as %XX with upper-case hex; '/'
// too when encodeSlash.
func escape(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
