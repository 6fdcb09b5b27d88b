package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wharfmq/wharf/core"
	"github.com/wharfmq/wharf/core/auth"
	"github.com/wharfmq/wharf/core/shard"
	raftv1 "github.com/wharfmq/wharf/proto/wharf/raft/v1"
)

// accessCacheTTL bounds how long the principals read from the metadata
// shard serve the API door without being read again. As for queue records
// (qcache.go), a node with a metadata replica drops them as soon as that
// replica applies any command; this TTL bounds the others. It is how long
// a revoked key or permission may still be honoured.
const accessCacheTTL = time.Second

// accessCache holds every principal and access key, secrets opened, as the
// API door checks them on each request.
type accessCache struct {
	sealerOnce sync.Once
	sealer     *auth.Sealer
	sealerErr  error

	mu   sync.Mutex
	dir  *auth.Directory
	gen  uint64
	read time.Time
	// loading is the read of the metadata shard in flight, if any: a
	// burst of requests after a change makes one read, not one each.
	loading *accessLoad
	// unusable holds the keys whose secret did not open, already logged.
	unusable map[string]bool
}

// accessLoad is one read of the principals; done is closed when dir or err
// is set.
type accessLoad struct {
	done chan struct{}
	dir  *auth.Directory
	err  error
}

// errNoClusterKey is why a node without a cluster key cannot make or check
// access keys.
var errNoClusterKey = errors.New("this node has no cluster key (wharfd --cluster-key-file) to seal access-key secrets with")

// sealer returns the node's sealer, made from Config.ClusterKey once.
func (n *Node) sealer() (*auth.Sealer, error) {
	a := &n.access
	a.sealerOnce.Do(func() {
		if n.cfg.ClusterKey == nil {
			a.sealerErr = errNoClusterKey
			return
		}
		a.sealer, a.sealerErr = auth.NewSealer(n.cfg.ClusterKey)
	})
	return a.sealer, a.sealerErr
}

// AuthDirectory returns every principal and access key, secrets opened:
// what the API door verifies signatures and permissions against. It is
// read from the metadata shard with a linearizable read, then cached
// (see accessCacheTTL). An error is the metadata shard's (typically
// unavailable) or ctx's; a key whose secret does not open carries its
// error.
func (n *Node) AuthDirectory(ctx context.Context) (*auth.Directory, error) {
	a := &n.access
	gen := n.qcache.gen.Load()
	a.mu.Lock()
	if a.dir != nil && a.gen == gen && time.Since(a.read) < accessCacheTTL {
		d := a.dir
		a.mu.Unlock()
		return d, nil
	}
	load := a.loading
	if load == nil {
		load = &accessLoad{done: make(chan struct{})}
		a.loading = load
		// Detached from this request: the others waiting for the read
		// must not fail because this one's client went away. n.read
		// bounds it with its default timeout.
		go n.loadDirectory(context.WithoutCancel(ctx), load, gen)
	}
	a.mu.Unlock()
	select {
	case <-load.done:
		return load.dir, load.err
	case <-ctx.Done():
		return nil, core.Errorf(core.DeadlineExceeded, "reading the principals: %v", ctx.Err())
	}
}

// loadDirectory reads the principals into load, and caches them under the
// generation gen the read began at: if a metadata command was applied
// meanwhile, the next request reads again.
func (n *Node) loadDirectory(ctx context.Context, load *accessLoad, gen uint64) {
	began := time.Now()
	recs, err := n.readPrincipals(ctx)
	var d *auth.Directory
	if err == nil {
		d = n.directory(recs)
	}
	a := &n.access
	a.mu.Lock()
	a.loading = nil
	if err == nil {
		a.dir, a.gen, a.read = d, gen, began
	}
	a.mu.Unlock()
	load.dir, load.err = d, err
	close(load.done)
}

// readPrincipals reads every principal from the metadata shard.
func (n *Node) readPrincipals(ctx context.Context) ([]*raftv1.PrincipalRecord, error) {
	v, err := n.read(ctx, metaShardID, shard.MetaPrincipalsQuery{})
	if err != nil {
		return nil, err
	}
	st, ok := v.(*raftv1.MetaState)
	if !ok {
		return nil, core.Errorf(core.Internal, "metadata principals lookup returned %T", v)
	}
	return st.GetPrincipals(), nil
}

// directory opens the secrets of the records' valid keys.
func (n *Node) directory(recs []*raftv1.PrincipalRecord) *auth.Directory {
	sealer, sealErr := n.sealer()
	principals := make([]*auth.Principal, 0, len(recs))
	var keys []auth.Key
	for _, rec := range recs {
		p := &auth.Principal{Name: rec.GetName()}
		for _, perm := range rec.GetPermissions() {
			p.Permissions = append(p.Permissions, auth.Permission{Action: auth.Action(perm.GetAction()), Pattern: perm.GetQueuePattern()})
		}
		principals = append(principals, p)
		for _, k := range rec.GetAccessKeys() {
			key := auth.Key{ID: k.GetAccessKeyId(), Principal: rec.GetName(), Revoked: k.GetRevokedMs() != 0}
			switch {
			case key.Revoked:
			case sealErr != nil:
				key.Err = sealErr
			default:
				key.Secret, key.Err = sealer.Open(key.ID, k.GetSealedSecret())
			}
			if key.Err != nil {
				n.reportUnusable(key)
			}
			keys = append(keys, key)
		}
	}
	return auth.NewDirectory(principals, keys)
}

// reportUnusable logs, once per key, that a key's secret does not open on
// this node.
func (n *Node) reportUnusable(key auth.Key) {
	a := &n.access
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.unusable[key.ID] {
		return
	}
	if a.unusable == nil {
		a.unusable = make(map[string]bool)
	}
	a.unusable[key.ID] = true
	n.log.Error("an access key cannot be used on this node: requests signed with it are refused", "access_key_id", key.ID, "principal", key.Principal, "err", key.Err)
}

// BootstrapAdmin creates the principal "admin", holding the access key id
// and secret and every action on every queue, if no principal exists yet.
// It reports whether it did: false when principals exist already (another
// node, or an earlier start, bootstrapped the cluster).
func (n *Node) BootstrapAdmin(ctx context.Context, accessKeyID, secret string) (created bool, err error) {
	if err := auth.CheckAccessKey(accessKeyID, secret); err != nil {
		return false, core.Errorf(core.InvalidArgument, "bootstrap admin key: %v", err)
	}
	sealer, err := n.sealer()
	if err != nil {
		return false, core.Errorf(core.FailedPrecondition, "bootstrap admin key: %v", err)
	}
	sealed, err := sealer.Seal(accessKeyID, secret)
	if err != nil {
		return false, core.Errorf(core.Internal, "bootstrap admin key: %v", err)
	}
	rec := &raftv1.PrincipalRecord{
		Name:       BootstrapAdminName,
		AccessKeys: []*raftv1.AccessKeyRecord{{AccessKeyId: accessKeyID, SealedSecret: sealed}},
	}
	for _, a := range auth.AllActions {
		rec.Permissions = append(rec.Permissions, &raftv1.PermissionRecord{Action: string(a), QueuePattern: auth.AnyQueue})
	}
	res, err := n.proposeMeta(ctx, &raftv1.MetaCommand{Op: &raftv1.MetaCommand_CreatePrincipal{
		CreatePrincipal: &raftv1.CreatePrincipal{Principal: rec, OnlyIfNone: true}}})
	if err != nil {
		return false, err
	}
	if res.GetStatus().GetCode() == raftv1.ErrorCode_ERROR_CODE_FAILED_PRECONDITION {
		return false, nil
	}
	if err := statusError(res.GetStatus()); err != nil {
		return false, err
	}
	return true, nil
}

// BootstrapAdminName is the principal BootstrapAdmin creates.
const BootstrapAdminName = "admin"
