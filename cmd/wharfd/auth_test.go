package main

import (
	"context"

	"github.com/wharfmq/wharf/core/auth"
)

// The fake node has no principal: the API is open.
func (f *fakeNode) AuthDirectory(context.Context) (*auth.Directory, error) {
	return auth.NewDirectory(nil, nil), nil
}

func (f *fakeNode) BootstrapAdmin(context.Context, string, string) (bool, error) { return false, nil }
