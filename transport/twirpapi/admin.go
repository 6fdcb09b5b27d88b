package twirpapi

import (
	"log/slog"
	"net/http"

	"github.com/twitchtv/twirp"

	wharfv1 "github.com/wharfmq/wharf/proto/wharf/v1"
)

// NewAdminHandler serves the administration of principals, access keys and
// permissions (/twirp/wharf.v1.AdminService/), with the same error mapping
// as the queue API.
func NewAdminHandler(svc wharfv1.AdminService, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return wharfv1.NewAdminServiceServer(svc,
		twirp.WithServerInterceptors(interceptor(logger)),
		twirp.WithServerJSONCamelCaseNames(false),
		twirp.WithServerJSONSkipDefaults(false),
	)
}

// MaxRequestBytes bounds a request body on the API port (see
// maxRequestBytes); the authentication in front of the services reads
// bodies to check their signatures and needs the same bound.
const MaxRequestBytes = maxRequestBytes
