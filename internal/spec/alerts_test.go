package spec

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAlertsFile(t *testing.T) {
	t.Parallel()
	w := clearPos(parseGood(t, "alerts.yaml"))
	require.Equal(t, &SLA{Deadline: Duration(30 * time.Minute)}, w.SLA)
	require.Equal(t, &SLA{Deadline: Duration(5 * time.Minute)}, w.Tasks[0].SLA)
	require.Equal(t, &SLA{Deadline: Duration(10 * time.Minute)}, w.Tasks[1].SLA)
	require.Equal(t, &Notify{
		OnFailure: &NotifyRule{Channels: []string{"ops-slack"}},
		OnSLABreach: &NotifyRule{
			Channels: []string{"ops-slack", "oncall-email"},
			Message:  "nightly close for ${{ inputs.day }} is late (run ${{ run.id }})",
		},
		OnSuccess: &NotifyRule{Channels: []string{"ops-slack"}},
	}, w.Notify)
	require.Len(t, w.Notify.Rules(), 3)
	require.Empty(t, (*Notify)(nil).Rules())

	// The stored form (JSON) reads back the same.
	js, err := json.Marshal(w)
	require.NoError(t, err)
	var back Workflow
	require.NoError(t, json.Unmarshal(js, &back))
	require.Equal(t, w, &back)
}
