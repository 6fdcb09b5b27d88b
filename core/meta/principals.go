package meta

import (
	"cmp"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/wharfmq/wharf/core/auth"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// Principals, their access keys and permissions (core/auth). The secrets
// arrive sealed (auth.Sealer) by the proposer: Apply never sees them in the
// clear, and stays deterministic (it makes no keys, no nonces).

const (
	// MaxPrincipals bounds the principals of a cluster; the API node
	// loads them all into memory.
	MaxPrincipals = 1000
	// MaxActiveKeys bounds a principal's valid keys: enough to rotate
	// with room to spare.
	MaxActiveKeys = 5
	// MaxKeys bounds a principal's keys, revoked ones included (delete
	// the principal and create it again to start over).
	MaxKeys = 50
	// MaxPermissions bounds a principal's permissions.
	MaxPermissions = 200
	// maxSealedSecret bounds a sealed secret: a 128-byte secret sealed
	// takes 157 bytes.
	maxSealedSecret = 256
)

// Principal returns the named principal; nil if there is none. The record
// is shared: callers must not modify it.
func (s *State) Principal(name string) *raftv1.PrincipalRecord {
	return s.principals[name]
}

// Principals returns every principal in name order. The records are
// shared: callers must not modify them.
func (s *State) Principals() []*raftv1.PrincipalRecord {
	out := make([]*raftv1.PrincipalRecord, 0, len(s.principalNames))
	for _, name := range s.principalNames {
		out = append(out, s.principals[name])
	}
	return out
}

func (s *State) createPrincipal(c *raftv1.CreatePrincipal) *raftv1.MetaResult {
	p := c.GetPrincipal()
	if p == nil {
		return failure(codeInvalid, "principal: missing")
	}
	if err := auth.CheckPrincipalName(p.GetName()); err != nil {
		return failure(codeInvalid, "principal.name: %v", err)
	}
	if c.GetOnlyIfNone() && len(s.principals) > 0 {
		return failure(codePrecondition, "principals exist already")
	}
	if s.principals[p.GetName()] != nil {
		return failure(codeAlreadyExists, "principal %q exists already", p.GetName())
	}
	if len(s.principals) >= MaxPrincipals {
		return failure(codeExhausted, "the cluster already holds the maximum of %d principals", MaxPrincipals)
	}
	if len(p.GetAccessKeys()) > MaxActiveKeys {
		return failure(codeInvalid, "principal.access_keys: at most %d, got %d", MaxActiveKeys, len(p.GetAccessKeys()))
	}
	rec := &raftv1.PrincipalRecord{Name: p.GetName(), CreatedMs: s.clock}
	ids := map[string]bool{}
	for _, k := range p.GetAccessKeys() {
		if res := s.checkNewKey(k); res != nil {
			return res
		}
		if ids[k.GetAccessKeyId()] {
			return failure(codeInvalid, "access key %s given twice", k.GetAccessKeyId())
		}
		ids[k.GetAccessKeyId()] = true
		rec.AccessKeys = append(rec.AccessKeys, s.newKey(k))
	}
	slices.SortFunc(rec.AccessKeys, cmpKeys)
	if len(p.GetPermissions()) > 0 {
		perms, res := checkPermissions(p.GetPermissions())
		if res != nil {
			return res
		}
		rec.Permissions = mergePermissions(nil, perms)
	}
	if len(s.principals) == 0 && !isAdmin(rec) {
		return failure(codePrecondition, "the first principal must hold %s on %q with a valid key: it turns authentication on, and nobody could administer the cluster otherwise", auth.ClusterAdmin, auth.AnyQueue)
	}
	if len(rec.Permissions) > MaxPermissions {
		return failure(codeExhausted, "a principal holds at most %d permissions", MaxPermissions)
	}
	s.putPrincipal(rec)
	return &raftv1.MetaResult{Principal: proto.CloneOf(rec)}
}

func (s *State) deletePrincipal(d *raftv1.DeletePrincipal) *raftv1.MetaResult {
	old := s.principals[d.GetName()]
	if old == nil {
		return failure(codeNotFound, "principal %q does not exist", d.GetName())
	}
	if len(s.principals) == 1 {
		// With no principal left, authentication would turn off and
		// the API would be open to anyone.
		return failure(codePrecondition, "%q is the last principal: deleting it would turn authentication off and open the API to everyone", d.GetName())
	}
	if res := s.checkAdminRemains(old.GetName(), nil); res != nil {
		return res
	}
	s.dropPrincipal(old)
	return &raftv1.MetaResult{Principal: proto.CloneOf(old)}
}

func (s *State) addAccessKey(a *raftv1.AddAccessKey) *raftv1.MetaResult {
	old := s.principals[a.GetPrincipal()]
	if old == nil {
		return failure(codeNotFound, "principal %q does not exist", a.GetPrincipal())
	}
	if res := s.checkNewKey(a.GetKey()); res != nil {
		return res
	}
	active := 0
	for _, k := range old.GetAccessKeys() {
		if k.GetRevokedMs() == 0 {
			active++
		}
	}
	if active >= MaxActiveKeys {
		return failure(codeExhausted, "principal %q already holds the maximum of %d valid keys: revoke one first", old.GetName(), MaxActiveKeys)
	}
	if len(old.GetAccessKeys()) >= MaxKeys {
		return failure(codeExhausted, "principal %q already holds the maximum of %d keys, revoked ones included", old.GetName(), MaxKeys)
	}
	rec := proto.CloneOf(old)
	rec.AccessKeys = append(rec.AccessKeys, s.newKey(a.GetKey()))
	slices.SortFunc(rec.AccessKeys, cmpKeys)
	s.putPrincipal(rec)
	return &raftv1.MetaResult{Principal: proto.CloneOf(rec)}
}

func (s *State) revokeAccessKey(r *raftv1.RevokeAccessKey) *raftv1.MetaResult {
	owner, ok := s.keyOwner[r.GetAccessKeyId()]
	if !ok {
		return failure(codeNotFound, "access key %s does not exist", r.GetAccessKeyId())
	}
	rec := proto.CloneOf(s.principals[owner])
	for _, k := range rec.GetAccessKeys() {
		if k.GetAccessKeyId() == r.GetAccessKeyId() && k.GetRevokedMs() == 0 {
			k.RevokedMs = max(s.clock, 1)
			// A revoked key's secret is of no use to anyone.
			k.SealedSecret = nil
		}
	}
	if res := s.checkAdminRemains(owner, rec); res != nil {
		return res
	}
	s.putPrincipal(rec)
	return &raftv1.MetaResult{Principal: proto.CloneOf(rec)}
}

func (s *State) grantPermissions(g *raftv1.GrantPermissions) *raftv1.MetaResult {
	old := s.principals[g.GetPrincipal()]
	if old == nil {
		return failure(codeNotFound, "principal %q does not exist", g.GetPrincipal())
	}
	perms, res := checkPermissions(g.GetPermissions())
	if res != nil {
		return res
	}
	rec := proto.CloneOf(old)
	rec.Permissions = mergePermissions(rec.GetPermissions(), perms)
	if len(rec.Permissions) > MaxPermissions {
		return failure(codeExhausted, "a principal holds at most %d permissions", MaxPermissions)
	}
	s.putPrincipal(rec)
	return &raftv1.MetaResult{Principal: proto.CloneOf(rec)}
}

func (s *State) revokePermissions(r *raftv1.RevokePermissions) *raftv1.MetaResult {
	old := s.principals[r.GetPrincipal()]
	if old == nil {
		return failure(codeNotFound, "principal %q does not exist", r.GetPrincipal())
	}
	rec := proto.CloneOf(old)
	rec.Permissions = slices.DeleteFunc(rec.Permissions, func(p *raftv1.PermissionRecord) bool {
		return slices.ContainsFunc(r.GetPermissions(), func(q *raftv1.PermissionRecord) bool { return cmpPermissions(p, q) == 0 })
	})
	if res := s.checkAdminRemains(rec.GetName(), rec); res != nil {
		return res
	}
	s.putPrincipal(rec)
	return &raftv1.MetaResult{Principal: proto.CloneOf(rec)}
}

// isAdmin reports whether rec can administer the cluster: cluster_admin
// on "*" and a valid key to sign with.
func isAdmin(rec *raftv1.PrincipalRecord) bool {
	holds := slices.ContainsFunc(rec.GetPermissions(), func(p *raftv1.PermissionRecord) bool {
		return p.GetAction() == string(auth.ClusterAdmin) && p.GetQueuePattern() == auth.AnyQueue
	})
	return holds && slices.ContainsFunc(rec.GetAccessKeys(), func(k *raftv1.AccessKeyRecord) bool { return k.GetRevokedMs() == 0 })
}

// checkAdminRemains refuses a change to the principal name (next: its new
// record, nil when deleted) that would leave no principal able to
// administer the cluster while authentication stays on: nobody could then
// grant, revoke or create keys again.
func (s *State) checkAdminRemains(name string, next *raftv1.PrincipalRecord) *raftv1.MetaResult {
	if next != nil && isAdmin(next) {
		return nil
	}
	for other, rec := range s.principals {
		if other != name && isAdmin(rec) {
			return nil
		}
	}
	return failure(codePrecondition, "this would leave no principal holding %s on %q with a valid key: nobody could administer the cluster", auth.ClusterAdmin, auth.AnyQueue)
}

// checkNewKey validates a key to add: a well-formed id no key has, and a
// sealed secret.
func (s *State) checkNewKey(k *raftv1.AccessKeyRecord) *raftv1.MetaResult {
	id := k.GetAccessKeyId()
	switch {
	case k == nil:
		return failure(codeInvalid, "key: missing")
	case id == "" || len(id) > auth.MaxAccessKeyIDLength:
		return failure(codeInvalid, "key.access_key_id: must be 1 to %d characters", auth.MaxAccessKeyIDLength)
	case len(k.GetSealedSecret()) == 0 || len(k.GetSealedSecret()) > maxSealedSecret:
		return failure(codeInvalid, "key.sealed_secret: must be 1 to %d bytes", maxSealedSecret)
	}
	if owner, used := s.keyOwner[id]; used {
		return failure(codeAlreadyExists, "access key %s exists already (principal %q)", id, owner)
	}
	return nil
}

// newKey is the stored form of a key being added.
func (s *State) newKey(k *raftv1.AccessKeyRecord) *raftv1.AccessKeyRecord {
	return &raftv1.AccessKeyRecord{AccessKeyId: k.GetAccessKeyId(), SealedSecret: k.GetSealedSecret(), CreatedMs: s.clock}
}

// checkPermissions validates permissions to grant (auth.Permission.Check).
func checkPermissions(perms []*raftv1.PermissionRecord) ([]*raftv1.PermissionRecord, *raftv1.MetaResult) {
	if len(perms) == 0 {
		return nil, failure(codeInvalid, "permissions: none given")
	}
	out := make([]*raftv1.PermissionRecord, 0, len(perms))
	for _, p := range perms {
		if err := (auth.Permission{Action: auth.Action(p.GetAction()), Pattern: p.GetQueuePattern()}).Check(); err != nil {
			return nil, failure(codeInvalid, "permissions: %v", err)
		}
		out = append(out, &raftv1.PermissionRecord{Action: p.GetAction(), QueuePattern: p.GetQueuePattern()})
	}
	return out, nil
}

// mergePermissions adds add to have, sorted, without duplicates.
func mergePermissions(have, add []*raftv1.PermissionRecord) []*raftv1.PermissionRecord {
	out := append(slices.Clone(have), add...)
	slices.SortFunc(out, cmpPermissions)
	return slices.CompactFunc(out, func(a, b *raftv1.PermissionRecord) bool { return cmpPermissions(a, b) == 0 })
}

func cmpPermissions(a, b *raftv1.PermissionRecord) int {
	return cmp.Or(cmp.Compare(a.GetAction(), b.GetAction()), cmp.Compare(a.GetQueuePattern(), b.GetQueuePattern()))
}

func cmpKeys(a, b *raftv1.AccessKeyRecord) int {
	return cmp.Compare(a.GetAccessKeyId(), b.GetAccessKeyId())
}

// putPrincipal stores rec, replacing the record of the same name.
func (s *State) putPrincipal(rec *raftv1.PrincipalRecord) {
	if old := s.principals[rec.GetName()]; old != nil {
		s.dropPrincipal(old)
	}
	if s.principals == nil {
		s.principals = make(map[string]*raftv1.PrincipalRecord)
		s.keyOwner = make(map[string]string)
	}
	s.principals[rec.GetName()] = rec
	i, _ := slices.BinarySearch(s.principalNames, rec.GetName())
	s.principalNames = slices.Insert(s.principalNames, i, rec.GetName())
	for _, k := range rec.GetAccessKeys() {
		s.keyOwner[k.GetAccessKeyId()] = rec.GetName()
	}
}

// dropPrincipal removes rec and its keys.
func (s *State) dropPrincipal(rec *raftv1.PrincipalRecord) {
	delete(s.principals, rec.GetName())
	if i, found := slices.BinarySearch(s.principalNames, rec.GetName()); found {
		s.principalNames = slices.Delete(s.principalNames, i, i+1)
	}
	for _, k := range rec.GetAccessKeys() {
		delete(s.keyOwner, k.GetAccessKeyId())
	}
}

// restorePrincipals loads principals from a snapshot, refusing duplicate
// names or key ids.
func (s *State) restorePrincipals(recs []*raftv1.PrincipalRecord) *raftv1.MetaResult {
	for _, rec := range recs {
		if s.principals[rec.GetName()] != nil {
			return failure(codeInvalid, "principal %q appears twice", rec.GetName())
		}
		for _, k := range rec.GetAccessKeys() {
			if owner, used := s.keyOwner[k.GetAccessKeyId()]; used {
				return failure(codeInvalid, "access key %s appears twice (principals %q and %q)", k.GetAccessKeyId(), owner, rec.GetName())
			}
		}
		s.putPrincipal(rec)
	}
	return nil
}
