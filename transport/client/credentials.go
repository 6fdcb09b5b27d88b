package client

import (
	"os"
	"strings"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/sigv4"
)

// The environment variables holding an access key, as command-line tools
// read them. Wharf's own come first; AWS's are the fallback, so that a
// shell set up for the AWS CLI against Wharf's SQS door works as is.
const (
	EnvAccessKeyID        = "WHARF_ACCESS_KEY_ID"
	EnvSecretAccessKey    = "WHARF_SECRET_ACCESS_KEY"
	EnvAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
)

// WithCredentials signs every request with the access key (AWS Signature
// Version 4), as a cluster with authentication on requires. Empty values
// leave requests unsigned.
func WithCredentials(accessKeyID, secretAccessKey string) Option {
	return func(o *options) {
		o.credentials = sigv4.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}
	}
}

// WithEnvCredentials is WithCredentials with the key from the environment
// (CredentialsFromEnv); with none there, requests stay unsigned.
func WithEnvCredentials() Option {
	creds, _ := CredentialsFromEnv()
	return WithCredentials(creds.AccessKeyID, creds.SecretAccessKey)
}

// CredentialsFromEnv returns $WHARF_ACCESS_KEY_ID and
// $WHARF_SECRET_ACCESS_KEY, or when the first is unset
// $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY; ok is false when neither
// pair is complete.
func CredentialsFromEnv() (creds sigv4.Credentials, ok bool) {
	get := func(name string) string { return strings.TrimSpace(os.Getenv(name)) }
	creds = sigv4.Credentials{AccessKeyID: get(EnvAccessKeyID), SecretAccessKey: get(EnvSecretAccessKey)}
	if creds.AccessKeyID == "" {
		creds = sigv4.Credentials{AccessKeyID: get(EnvAWSAccessKeyID), SecretAccessKey: get(EnvAWSSecretAccessKey)}
	}
	return creds, creds.Valid()
}

// signing returns the HTTP client requests go through: o's, behind a
// signer when o has credentials. The signer reads each request's body to
// hash it, so it works whatever the encoding, and sits in front of
// whatever transport (TLS included) o's client has.
func signing(o options) wharfv1.HTTPClient {
	if !o.credentials.Valid() {
		return o.httpClient
	}
	return &sigv4.Signer{Next: o.httpClient, Credentials: o.credentials}
}
