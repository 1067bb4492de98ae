package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/api"
)

func TestClusterListsTheNodeAndItsDuty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var c api.Cluster
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/api/v1/cluster", nil, &c))
		return len(c.Nodes) == 1 && c.Nodes[0].Leader
	}, 10*time.Second, 10*time.Millisecond)
	n := c.Nodes[0]
	require.Equal(t, "local", n.ID)
	require.False(t, n.StartedAt.IsZero())
	require.False(t, n.HeartbeatAt.Before(n.StartedAt))
	require.Equal(t, http.StatusUnauthorized, b.doToken(t, "", http.MethodGet, "/api/v1/cluster", nil, nil))
}
