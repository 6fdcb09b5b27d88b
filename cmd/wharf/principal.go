package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/twitchtv/twirp"

	"github.com/wharfmq/wharf/core/auth"
	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
	"github.com/wharfmq/wharf/transport/client"
)

// Principals, access keys and permissions (AdminService). Every command
// needs a key with cluster_admin once authentication is on.

func (c *cli) admin() wharfv1.AdminService {
	if c.adminSvc == nil {
		c.adminSvc = c.dialAdmin(client.SplitEndpoints(c.endpoint))
	}
	return c.adminSvc
}

func (c *cli) principalCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("principal create", "NAME [--admin]\n\n"+
		"Creates a principal with a new access key and prints the key. The secret\n"+
		"is shown only now. Without --admin the principal may do nothing until\n"+
		"granted (wharf grant). Creating the first principal turns authentication\n"+
		"on (every request must then be signed), so it must be an --admin.")
	isAdmin := fs.Bool("admin", false, "grant every action on every queue, cluster_admin included")
	name, err := c.oneArg(fs, args, "NAME")
	if err != nil {
		return err
	}
	req := &wharfv1.CreatePrincipalRequest{Name: name}
	if *isAdmin {
		for _, a := range auth.AllActions {
			req.Permissions = append(req.Permissions, &wharfv1.Permission{Action: string(a), QueuePattern: auth.AnyQueue})
		}
	}
	resp, err := c.admin().CreatePrincipal(ctx, req)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return c.printSecret(resp.GetPrincipal().GetName(), resp.GetSecret())
}

func (c *cli) principalList(ctx context.Context, args []string) error {
	fs := c.flagSet("principal list", "\n\nLists every principal with its access keys (no secrets) and permissions.")
	pos, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return c.usageError(fs, "unexpected arguments %q", pos)
	}
	resp, err := c.admin().ListPrincipals(ctx, &wharfv1.ListPrincipalsRequest{})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printPrincipals(c.out, resp.GetPrincipals())
}

func (c *cli) principalDelete(ctx context.Context, args []string) error {
	fs := c.flagSet("principal delete", "NAME\n\n"+
		"Deletes a principal and all its access keys. The last principal cannot be\n"+
		"deleted: that would turn authentication off.")
	name, err := c.oneArg(fs, args, "NAME")
	if err != nil {
		return err
	}
	resp, err := c.admin().DeletePrincipal(ctx, &wharfv1.DeletePrincipalRequest{Name: name})
	if err != nil {
		return err
	}
	return c.printEmpty(resp)
}

func (c *cli) keyCreate(ctx context.Context, args []string) error {
	fs := c.flagSet("key create", "PRINCIPAL\n\n"+
		"Adds a new access key to a principal and prints it; the secret is shown\n"+
		"only now. To rotate a key: create a new one, move clients to it, then\n"+
		"revoke the old one.")
	name, err := c.oneArg(fs, args, "PRINCIPAL")
	if err != nil {
		return err
	}
	resp, err := c.admin().CreateAccessKey(ctx, &wharfv1.CreateAccessKeyRequest{Principal: name})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return c.printSecret(resp.GetPrincipal().GetName(), resp.GetSecret())
}

func (c *cli) keyRevoke(ctx context.Context, args []string) error {
	fs := c.flagSet("key revoke", "ACCESS_KEY_ID\n\n"+
		"Revokes an access key for good: requests signed with it are refused\n"+
		"(within a second on every node). It stays listed, as revoked.")
	id, err := c.oneArg(fs, args, "ACCESS_KEY_ID")
	if err != nil {
		return err
	}
	resp, err := c.admin().RevokeAccessKey(ctx, &wharfv1.RevokeAccessKeyRequest{AccessKeyId: id})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printPrincipals(c.out, []*wharfv1.Principal{resp.GetPrincipal()})
}

// permissionHelp explains ACTIONS and QUEUE_PATTERN for grant and revoke.
var permissionHelp = "\n\nACTIONS is a comma-separated list of: " + actionNames() + ";\n" +
	"or \"all\" for every action but cluster_admin. QUEUE_PATTERN is a queue name\n" +
	"where '*' matches any run of characters: \"orders-*\", \"*.fifo\", \"*\".\n" +
	"cluster_admin (nodes, principals, keys, permissions) is granted on \"*\" only.\n" +
	"ListQueues lists the queues get_queue is granted on."

func (c *cli) grant(ctx context.Context, args []string) error {
	fs := c.flagSet("grant", "PRINCIPAL ACTIONS QUEUE_PATTERN"+permissionHelp)
	name, actions, pattern, err := c.permissionArgs(fs, args)
	if err != nil {
		return err
	}
	resp, err := c.admin().GrantPermission(ctx, &wharfv1.GrantPermissionRequest{Principal: name, Actions: actions, QueuePattern: pattern})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printPrincipals(c.out, []*wharfv1.Principal{resp.GetPrincipal()})
}

func (c *cli) revoke(ctx context.Context, args []string) error {
	fs := c.flagSet("revoke", "PRINCIPAL ACTIONS QUEUE_PATTERN"+permissionHelp+
		"\nA permission is revoked as it was granted: same action, same pattern.")
	name, actions, pattern, err := c.permissionArgs(fs, args)
	if err != nil {
		return err
	}
	resp, err := c.admin().RevokePermission(ctx, &wharfv1.RevokePermissionRequest{Principal: name, Actions: actions, QueuePattern: pattern})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	return printPrincipals(c.out, []*wharfv1.Principal{resp.GetPrincipal()})
}

// oneArg parses a command taking one positional argument.
func (c *cli) oneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	pos, err := c.parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 || pos[0] == "" {
		return "", c.usageError(fs, "want one %s, got %d arguments", what, len(pos))
	}
	return pos[0], nil
}

// permissionArgs parses PRINCIPAL ACTIONS QUEUE_PATTERN.
func (c *cli) permissionArgs(fs *flag.FlagSet, args []string) (name string, actions []string, pattern string, err error) {
	pos, err := c.parse(fs, args)
	if err != nil {
		return "", nil, "", err
	}
	if len(pos) != 3 {
		return "", nil, "", c.usageError(fs, "want PRINCIPAL ACTIONS QUEUE_PATTERN, got %d arguments", len(pos))
	}
	for _, a := range strings.Split(pos[1], ",") {
		a = strings.TrimSpace(a)
		if a == "all" {
			for _, each := range auth.AllActions {
				if each != auth.ClusterAdmin {
					actions = append(actions, string(each))
				}
			}
			continue
		}
		if _, err := auth.ParseAction(a); err != nil {
			return "", nil, "", c.usageError(fs, "%v", err)
		}
		actions = append(actions, a)
	}
	return pos[0], slices.Compact(actions), pos[2], nil
}

func actionNames() string {
	names := make([]string, len(auth.AllActions))
	for i, a := range auth.AllActions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// credentialsHint tells, after a refused signature, where the CLI takes
// its key from.
func (c *cli) credentialsHint(tw twirp.Error) {
	if tw.Code() != twirp.Unauthenticated {
		return
	}
	fmt.Fprintf(c.errOut, "wharf: the CLI signs requests with $%s and $%s (else $%s and $%s)\n",
		client.EnvAccessKeyID, client.EnvSecretAccessKey, client.EnvAWSAccessKeyID, client.EnvAWSSecretAccessKey)
}

// printSecret prints a new key, and on errOut how to use it.
func (c *cli) printSecret(principal string, s *wharfv1.Secret) error {
	if err := printKV(c.out, []kv{
		{"principal", principal},
		{"access_key_id", s.GetAccessKeyId()},
		{"secret_access_key", s.GetSecretAccessKey()},
	}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.errOut, "\nThe secret is shown only now. To use the key:\n  export %s=%s\n  export %s=<secret_access_key above>\n",
		client.EnvAccessKeyID, s.GetAccessKeyId(), client.EnvSecretAccessKey)
	return err
}

// printPrincipals prints a line per principal: its keys (revoked ones
// marked) and permissions.
func printPrincipals(w io.Writer, ps []*wharfv1.Principal) error {
	rows := make([][]string, 0, len(ps))
	for _, p := range ps {
		var keys, perms []string
		for _, k := range p.GetAccessKeys() {
			if k.GetRevokedTimestamp() != 0 {
				keys = append(keys, k.GetAccessKeyId()+" (revoked)")
			} else {
				keys = append(keys, k.GetAccessKeyId())
			}
		}
		for _, perm := range p.GetPermissions() {
			perms = append(perms, perm.GetAction()+" on "+perm.GetQueuePattern())
		}
		rows = append(rows, []string{p.GetName(), timestamp(p.GetCreatedTimestamp()), orDash(strings.Join(keys, ", ")), orDash(strings.Join(perms, ", "))})
	}
	return printTable(w, []string{"PRINCIPAL", "CREATED", "ACCESS KEYS", "PERMISSIONS"}, rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
