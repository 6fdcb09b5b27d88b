// Package auth holds who a request comes from and what they may do:
// principals, their access keys and their permissions.
package auth

import "context"

type principalKey struct{}

// WithPrincipal returns ctx carrying the name of the principal a request
// was authenticated as.
func WithPrincipal(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, principalKey{}, name)
}

// PrincipalFrom returns the principal ctx carries, if the request was
// authenticated; ok is false on an open node (no keys configured).
func PrincipalFrom(ctx context.Context) (name string, ok bool) {
	name, ok = ctx.Value(principalKey{}).(string)
	return name, ok
}
