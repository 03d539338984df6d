package ipfs

import (
	"context"
	"time"
)

// newReadOnly is New for Options.ReadOnly: it connects and checks the node,
// and touches nothing on disk.
func newReadOnly(ctx context.Context, o Options) (*Backend, error) {
	if o.RetryFor <= 0 {
		o.RetryFor = time.Minute
	}
	if o.ReadRetryFor <= 0 {
		o.ReadRetryFor = 10 * time.Second
	}
	api, err := newAPI(o.API)
	if err != nil {
		return nil, err
	}
	b := &Backend{api: api, addr: o.API, readOnly: true, retryFor: o.RetryFor, readRetryFor: o.ReadRetryFor}
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b, nil
}
