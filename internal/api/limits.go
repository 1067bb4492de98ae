package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// Limit is one limit claims obey, in GET /limits.
type Limit struct {
	Kind       string  `json:"kind" enum:"queue,type,resource"`
	Name       string  `json:"name"`
	MaxRunning int     `json:"max_running,omitempty" doc:"At most this many attempts running at once (absent: no bound)"`
	Rate       float64 `json:"rate_per_second,omitempty" doc:"Attempts started per second, on average (absent: no rate)"`
	Burst      float64 `json:"burst,omitempty" doc:"The most attempts started at once"`
	Tokens     float64 `json:"tokens,omitempty" doc:"Attempts that may start now under the rate"`
}

// Limits is the body of GET /limits.
type Limits struct {
	Limits []Limit `json:"limits" doc:"By kind and name"`
}

type limitsOutput struct{ Body Limits }

func (s *server) registerLimits(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-limits", Method: http.MethodGet, Path: Prefix + "/limits", Tags: []string{"cluster"},
		Summary: "The limits of attempts in flight and rates per queue, task type and resource (set by the servers' flags)",
		Errors:  []int{http.StatusUnauthorized},
	}, func(ctx context.Context, _ *struct{}) (*limitsOutput, error) {
		ls, err := s.eng.Limits(ctx)
		if err != nil {
			return nil, apiError(ctx, s.log, err)
		}
		out := &limitsOutput{Body: Limits{Limits: make([]Limit, len(ls))}}
		now := s.eng.Now()
		for i, l := range ls {
			l.Refill(now)
			out.Body.Limits[i] = Limit{Kind: string(l.Kind), Name: l.Name, MaxRunning: l.MaxRunning, Rate: l.Rate, Burst: l.Burst, Tokens: l.Tokens}
		}
		return out, nil
	})
}
