package twirpapi

import (
	"log/slog"
	"net/http"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// NewClusterHandler serves the cluster administration API
// (/twirp/wharf.v1.ClusterService/), with the same error mapping as the
// queue API.
func NewClusterHandler(svc wharfv1.ClusterService, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return wharfv1.NewClusterServiceServer(svc,
		twirp.WithServerInterceptors(interceptor(logger)),
		twirp.WithServerJSONCamelCaseNames(false),
		twirp.WithServerJSONSkipDefaults(false),
	)
}
