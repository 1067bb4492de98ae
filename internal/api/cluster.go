package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// ClusterNode is one server node in GET /cluster.
type ClusterNode struct {
	ID          string    `json:"id" doc:"The node's name (--node-id)"`
	Address     string    `json:"address" doc:"The address its API listens on"`
	Version     string    `json:"version" doc:"The node's build version"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at" doc:"Its last heartbeat; nodes silent for a few seconds are not listed"`
	Leader      bool      `json:"leader" doc:"Whether it holds the scheduler duty (timers, lease expiry)"`
}

// Cluster is the body of GET /cluster.
type Cluster struct {
	Nodes []ClusterNode `json:"nodes" doc:"The live nodes, by id"`
}

type clusterOutput struct{ Body Cluster }

func (s *server) registerCluster(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-cluster", Method: http.MethodGet, Path: Prefix + "/cluster", Tags: []string{"cluster"},
		Summary: "The server nodes sharing this store, and which one holds the scheduler duty",
	}, func(ctx context.Context, _ *struct{}) (*clusterOutput, error) {
		nodes, err := s.eng.Nodes(ctx)
		if err != nil {
			return nil, apiError(ctx, s.log, err)
		}
		out := &clusterOutput{Body: Cluster{Nodes: make([]ClusterNode, len(nodes))}}
		for i, n := range nodes {
			out.Body.Nodes[i] = ClusterNode{
				ID: n.ID, Address: n.Address, Version: n.Version,
				StartedAt: n.StartedAt, HeartbeatAt: n.HeartbeatAt, Leader: n.Leader,
			}
		}
		return out, nil
	})
}
