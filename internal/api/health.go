package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/store"
)

// HealthStatus is the body of /healthz and /readyz.
type HealthStatus struct {
	Status string `json:"status" enum:"ok,unavailable"`
}

type healthOutput struct {
	Status int
	Body   HealthStatus
}

// readyTimeout bounds the store check of /readyz.
const readyTimeout = 2 * time.Second

func (s *server) registerHealth(api huma.API) {
	public := []map[string][]string{}
	huma.Register(api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"health"},
		Summary: "Liveness: 200 while the process serves", Security: public,
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		return &healthOutput{Status: http.StatusOK, Body: HealthStatus{Status: "ok"}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"health"},
		Summary: "Readiness: 200 when the store answers, 503 otherwise", Security: public,
		Responses: map[string]*huma.Response{"503": {Description: "The store does not answer"}},
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		err := s.st.View(ctx, func(tx store.Tx) error {
			_, err := tx.KVGet(ctx, "health.ping")
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "err", err)
			return &healthOutput{Status: http.StatusServiceUnavailable, Body: HealthStatus{Status: "unavailable"}}, nil
		}
		return &healthOutput{Status: http.StatusOK, Body: HealthStatus{Status: "ok"}}, nil
	})
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
