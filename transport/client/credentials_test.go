package client

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/apiauth"
	"github.com/wharfmq/wharf/transport/twirpapi"
)

type staticDirectory struct{ dir *auth.Directory }

func (s staticDirectory) AuthDirectory(context.Context) (*auth.Directory, error) { return s.dir, nil }

// startGuarded serves svc behind authentication with one principal, who may
// get every queue, holding the key id/secret.
func startGuarded(t *testing.T, svc wharfv1.QueueService, id, secret string) *httptest.Server {
	t.Helper()
	p := &auth.Principal{Name: "reader", Permissions: []auth.Permission{{Action: auth.GetQueue, Pattern: "*"}}}
	dir := auth.NewDirectory([]*auth.Principal{p}, []auth.Key{{ID: id, Principal: "reader", Secret: secret}})
	h := apiauth.Handler(twirpapi.NewHandler(apiauth.Queues(svc), nil, nil), staticDirectory{dir}, apiauth.Options{MaxBodyBytes: twirpapi.MaxRequestBytes})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestCredentialsSign(t *testing.T) {
	const id, secret = "WKIDREADER000000001", "reader-secret-0123456789"
	srv := startGuarded(t, &fakeService{}, id, secret)
	get := func(opts ...Option) error {
		_, err := New([]string{srv.URL}, opts...).GetQueue(context.Background(), &wharfv1.GetQueueRequest{Queue: "orders"})
		return err
	}
	if err := get(WithCredentials(id, secret)); err != nil {
		t.Fatalf("signed request refused: %v", err)
	}
	if err := get(); codeOf(err) != twirp.Unauthenticated {
		t.Fatalf("unsigned request: got %v, want unauthenticated", err)
	}
	if err := get(WithCredentials(id, "wrong-secret-0123456789")); codeOf(err) != twirp.Unauthenticated {
		t.Fatalf("wrong secret: got %v, want unauthenticated", err)
	}
	// The signer sits in front of any HTTP client given, whatever the
	// order of the options.
	if err := get(WithCredentials(id, secret), WithHTTPClient(srv.Client())); err != nil {
		t.Fatalf("signed request through a custom HTTP client refused: %v", err)
	}

	// From the environment: Wharf's variables first, AWS's as fallback.
	t.Setenv(EnvAWSAccessKeyID, id)
	t.Setenv(EnvAWSSecretAccessKey, secret)
	t.Setenv(EnvAccessKeyID, "")
	t.Setenv(EnvSecretAccessKey, "")
	if err := get(WithEnvCredentials()); err != nil {
		t.Fatalf("AWS_* credentials: %v", err)
	}
	t.Setenv(EnvAccessKeyID, id)
	t.Setenv(EnvSecretAccessKey, "wrong-secret-0123456789")
	if err := get(WithEnvCredentials()); codeOf(err) != twirp.Unauthenticated {
		t.Fatalf("WHARF_* credentials must win over AWS_*: got %v", err)
	}
}
