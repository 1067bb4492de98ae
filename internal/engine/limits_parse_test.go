package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]store.Limit{
		"billing=5":         {Kind: store.LimitQueue, Name: "billing", MaxRunning: 5},
		"crm=10/s":          {Kind: store.LimitResource, Name: "crm", Rate: 10, Burst: 10},
		"crm=600/m:20":      {Kind: store.LimitResource, Name: "crm", Rate: 10, Burst: 20},
		"crm=5/10s":         {Kind: store.LimitResource, Name: "crm", Rate: 0.5, Burst: 5},
		"queue:billing=2/s": {Kind: store.LimitQueue, Name: "billing", Rate: 2, Burst: 2},
		"type:http=100/h:1": {Kind: store.LimitType, Name: "http", Rate: 100.0 / 3600, Burst: 1},
		"crm=0":             {Kind: store.LimitResource, Name: "crm"},
	} {
		kind := store.LimitResource
		if in == "billing=5" {
			kind = store.LimitQueue
		}
		got, err := engine.ParseLimit(kind, in)
		require.NoError(t, err, in)
		require.Equal(t, want, *got, in)
	}
	for _, bad := range []string{"billing", "=5", "billing=x", "billing=-1", "crm=10/fortnight", "crm=10/s:0", "crm=1/0s", "disk:crm=1/s"} {
		_, err := engine.ParseLimit(store.LimitResource, bad)
		require.Error(t, err, bad)
	}
	merged := engine.MergeLimits([]*store.Limit{
		{Kind: store.LimitResource, Name: "crm", MaxRunning: 3},
		{Kind: store.LimitResource, Name: "crm", Rate: 10, Burst: 10},
		{Kind: store.LimitQueue, Name: "crm", MaxRunning: 1},
	})
	require.Equal(t, []*store.Limit{
		{Kind: store.LimitResource, Name: "crm", MaxRunning: 3, Rate: 10, Burst: 10},
		{Kind: store.LimitQueue, Name: "crm", MaxRunning: 1},
	}, merged)
}
