package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Action is something a principal may be granted on queues.
type Action string

// The actions. Each RPC of the public API needs one (see RPCActions).
const (
	// Send: SendMessage, SendMessageBatch.
	Send Action = "send"
	// Receive: ReceiveMessage.
	Receive Action = "receive"
	// Delete: DeleteMessage(Batch) and ChangeMessageVisibility(Batch):
	// what a consumer does with the messages it received.
	Delete Action = "delete"
	// Purge: PurgeQueue.
	Purge Action = "purge"
	// CreateQueue: CreateQueue, checked against the new queue's name.
	CreateQueue Action = "create_queue"
	// DeleteQueue: DeleteQueue.
	DeleteQueue Action = "delete_queue"
	// UpdateQueue: UpdateQueue (set attributes).
	UpdateQueue Action = "update_queue"
	// GetQueue: GetQueue (attributes and counts), and ListQueues, which
	// lists only the names of queues the principal may get.
	GetQueue Action = "get_queue"
	// ClusterAdmin: every ClusterService and AdminService RPC (nodes,
	// principals, keys, permissions). It is cluster-wide: it can only be
	// granted on the pattern "*".
	ClusterAdmin Action = "cluster_admin"
)

// AllActions lists every action, in the order documentation shows them.
var AllActions = []Action{Send, Receive, Delete, Purge, CreateQueue, DeleteQueue, UpdateQueue, GetQueue, ClusterAdmin}

// AnyQueue is the pattern that matches every queue name.
const AnyQueue = "*"

// MaxPatternLength bounds a queue-name pattern: a queue name (80) plus
// room for wildcards.
const MaxPatternLength = 100

// ParseAction returns the action named s, or an error listing the valid
// ones.
func ParseAction(s string) (Action, error) {
	a := Action(s)
	if slices.Contains(AllActions, a) {
		return a, nil
	}
	names := make([]string, len(AllActions))
	for i, a := range AllActions {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown action %q: want one of %s", s, strings.Join(names, ", "))
}

// Permission grants one action on the queues whose names match Pattern.
type Permission struct {
	Action  Action
	Pattern string
}

func (p Permission) String() string { return string(p.Action) + " on " + p.Pattern }

// Check validates a permission as a grant: a known action, and a pattern of
// queue-name characters and '*' wildcards; cluster_admin only on "*".
func (p Permission) Check() error {
	if _, err := ParseAction(string(p.Action)); err != nil {
		return err
	}
	if err := CheckPattern(p.Pattern); err != nil {
		return err
	}
	if p.Action == ClusterAdmin && p.Pattern != AnyQueue {
		return fmt.Errorf("%s is cluster-wide: grant it on %q, not %q", ClusterAdmin, AnyQueue, p.Pattern)
	}
	return nil
}

// CheckPattern validates a queue-name pattern: 1 to MaxPatternLength
// letters, digits, '-', '_', '.' (for ".fifo") and '*' (any run of
// characters, none included).
func CheckPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("queue pattern must not be empty (%q matches every queue)", AnyQueue)
	}
	if len(pattern) > MaxPatternLength {
		return fmt.Errorf("queue pattern must be at most %d characters, got %d", MaxPatternLength, len(pattern))
	}
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; !isNameChar(c) && c != '.' && c != '*' {
			return fmt.Errorf("queue pattern %q: invalid character %q at offset %d: only letters, digits, '-', '_', '.' and the wildcard '*'", pattern, c, i)
		}
	}
	return nil
}

// Match reports whether name matches pattern, where '*' matches any run of
// characters (none included) and every other character itself.
func Match(pattern, name string) bool {
	// The classic two-pointer glob: on a mismatch, go back to the last
	// '*' and let it swallow one more character. Linear in practice,
	// quadratic at worst, on strings of at most 100 characters.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Principal is someone requests are authenticated as: a name and what it
// may do.
type Principal struct {
	Name        string
	Permissions []Permission
}

// Allowed reports whether p may do action on the named queue. A
// cluster-wide action (cluster_admin) ignores queue. A nil principal may do
// nothing.
func Allowed(p *Principal, action Action, queue string) bool {
	if p == nil {
		return false
	}
	for _, perm := range p.Permissions {
		if perm.Action != action {
			continue
		}
		if action == ClusterAdmin {
			if perm.Pattern == AnyQueue {
				return true
			}
			continue
		}
		if Match(perm.Pattern, queue) {
			return true
		}
	}
	return false
}

// Holds reports whether p holds action on any pattern at all (ListQueues
// asks it before filtering names with Allowed).
func Holds(p *Principal, action Action) bool {
	if p == nil {
		return false
	}
	for _, perm := range p.Permissions {
		if perm.Action == action {
			return true
		}
	}
	return false
}

// MaxPrincipalNameLength bounds a principal's name.
const MaxPrincipalNameLength = 64

// CheckPrincipalName validates a principal's name: 1 to 64 letters,
// digits, '-', '_', '.' and '@' (room for "ci-bot" or "alice@example.com").
func CheckPrincipalName(name string) error {
	if name == "" {
		return fmt.Errorf("principal name must not be empty")
	}
	if len(name) > MaxPrincipalNameLength {
		return fmt.Errorf("principal name must be at most %d characters, got %d", MaxPrincipalNameLength, len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isNameChar(c) && c != '.' && c != '@' {
			return fmt.Errorf("principal name %q: invalid character %q at offset %d: only letters, digits, '-', '_', '.' and '@'", name, c, i)
		}
	}
	return nil
}

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
