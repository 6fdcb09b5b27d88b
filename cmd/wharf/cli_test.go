package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"queue"},
		{"queue", "frobnicate"},
		{"--nope", "queue", "list"},
		{"queue", "create"},
		{"queue", "create", "a", "b"},
		{"queue", "create", "q", "--visibility", "soon"},
		{"queue", "create", "q", "--visibility", "99999999999"},
		{"queue", "create", "q", "--dlq", "dead"},
		{"queue", "create", "q", "--max-receives", "3"},
		{"queue", "create", "q", "--partitions", "many"},
		{"queue", "update", "q", "--partitions", "2"}, // fixed at creation
		{"queue", "update", "q"},
		{"queue", "list", "extra"},
		{"send"},
		{"send", "q", "a", "b"},
		{"send", "q", "x", "--attr", "novalue"},
		{"send", "q", "x", "--attr", "n=Date:today"},
		{"send", "q", "x", "--attr", "n=Binary:not base64!"},
		{"send", "q", "x", "--attr", "n=String:a", "--attr", "n=String:b"},
		{"receive"},
		{"delete", "q"},
		{"change-visibility", "q", "handle"},
		{"change-visibility", "q", "handle", "soon"},
	} {
		svc := &fakeService{}
		r := runCLI(t, svc, "", args...)
		if r.code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr:\n%s", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "usage:") && !strings.Contains(r.stderr, "wharf:") {
			t.Errorf("%q: stderr explains nothing:\n%s", args, r.stderr)
		}
		if len(svc.requests) != 0 {
			t.Errorf("%q: made requests %v", args, svc.requests)
		}
	}
}

func TestHelp(t *testing.T) {
	r := runCLI(t, &fakeService{}, "", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "queue create") || !strings.Contains(r.stdout, "change-visibility") ||
		!strings.Contains(r.stdout, "cluster status") {
		t.Errorf("help: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, args := range [][]string{{"-h"}, {"send", "-h"}, {"queue", "create", "--help"}, {"cluster", "add", "-h"}} {
		if r := runCLI(t, &fakeService{}, "", args...); r.code != 0 || !strings.Contains(r.stderr, "usage: wharf") {
			t.Errorf("%q: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "purge", "q"}, "http://default:7070"},
		{[]string{"--endpoint", "http://a:1", "queue", "purge", "q"}, "http://a:1"},
		// Global flags may follow the command.
		{[]string{"queue", "purge", "q", "--endpoint", "http://b:2"}, "http://b:2"},
		// Any node serves any request: the client fails over between them.
		{[]string{"--endpoint", "http://a:1,http://b:2, c:3 ,", "queue", "purge", "q"}, "http://a:1|http://b:2|c:3"},
	} {
		if r := runCLI(t, &fakeService{}, "", tc.args...); r.code != 0 || r.endpoint != tc.want {
			t.Errorf("%q: exit %d, endpoint %q, want %q; stderr:\n%s", tc.args, r.code, r.endpoint, tc.want, r.stderr)
		}
	}
}

func TestServerErrors(t *testing.T) {
	svc := &fakeService{err: twirp.NewError(twirp.NotFound, `queue "nope" does not exist`)}
	r := runCLI(t, svc, "", "queue", "get", "nope")
	if r.code != 1 || r.stderr != "wharf: not_found: queue \"nope\" does not exist\n" || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	svc = &fakeService{err: twirp.InvalidArgumentError("visibility_timeout_seconds", "must be at most 43200")}
	r = runCLI(t, svc, "", "queue", "update", "q", "--visibility", "50000")
	if r.code != 1 || r.stderr != "wharf: invalid_argument: visibility_timeout_seconds must be at most 43200\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}

	svc = &fakeService{err: errors.New("something odd")}
	if r := runCLI(t, svc, "", "queue", "purge", "q"); r.code != 1 || r.stderr != "wharf: something odd\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestJSONOutput(t *testing.T) {
	svc := &fakeService{sent: &wharfv1.SendMessageResponse{MessageId: "m-1", Md5OfBody: "abc"}}
	r := runCLI(t, svc, "", "--json", "send", "q", "hi")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// Proto names, zero values included, indented.
	for _, want := range []string{`"message_id"`, `"md5_of_body"`, `"sequence_number"`, "\n  "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	got := &wharfv1.SendMessageResponse{}
	if err := protojson.Unmarshal([]byte(r.stdout), got); err != nil {
		t.Fatalf("output is not protojson: %v\n%s", err, r.stdout)
	}
	if !proto.Equal(got, svc.sent) {
		t.Errorf("decoded %v, want %v", got, svc.sent)
	}

	// Empty responses print {} with --json, nothing without.
	if r := runCLI(t, &fakeService{}, "", "queue", "delete", "q", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "{}" {
		t.Errorf("delete --json: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := runCLI(t, &fakeService{}, "", "queue", "delete", "q"); r.code != 0 || r.stdout != "" {
		t.Errorf("delete: exit %d, stdout %q", r.code, r.stdout)
	}
}
