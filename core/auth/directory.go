package auth

// Key is an access key as the API door needs it: whose it is and its
// secret, opened.
type Key struct {
	ID        string
	Principal string
	Secret    string
	// Revoked keys stay listed so a request signed with one is told so.
	Revoked bool
	// Err, when set, says why the secret could not be opened: the key
	// cannot be used on this node.
	Err error
}

// Directory is every principal and access key, as of one read of the
// metadata shard. It is immutable once built.
type Directory struct {
	principals map[string]*Principal
	keys       map[string]Key
}

// NewDirectory builds a directory. Keys naming an unknown principal are
// dropped.
func NewDirectory(principals []*Principal, keys []Key) *Directory {
	d := &Directory{principals: make(map[string]*Principal, len(principals)), keys: make(map[string]Key, len(keys))}
	for _, p := range principals {
		d.principals[p.Name] = p
	}
	for _, k := range keys {
		if _, ok := d.principals[k.Principal]; ok {
			d.keys[k.ID] = k
		}
	}
	return d
}

// Enabled reports whether authentication is on: once any principal
// exists, every request must be signed.
func (d *Directory) Enabled() bool { return d != nil && len(d.principals) > 0 }

// Key returns the access key with the id.
func (d *Directory) Key(id string) (Key, bool) {
	if d == nil {
		return Key{}, false
	}
	k, ok := d.keys[id]
	return k, ok
}

// Principal returns the named principal; nil if there is none.
func (d *Directory) Principal(name string) *Principal {
	if d == nil {
		return nil
	}
	return d.principals[name]
}
