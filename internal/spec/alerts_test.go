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
	for _, r := range []*NotifyRule{w.Notify.OnFailure, w.Notify.OnSLABreach, w.Notify.OnSuccess} {
		r.ChannelPos = nil
	}
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

func TestUnknownChannels(t *testing.T) {
	t.Parallel()
	w := parseGood(t, "alerts.yaml")
	require.Empty(t, w.UnknownChannels([]string{"ops-slack", "oncall-email"}))
	errs := w.UnknownChannels([]string{"ops-slack"})
	require.Len(t, errs, 1)
	require.Equal(t, `alerts.yaml:8:27: notify.on_sla_breach: unknown channel "oncall-email"; the server's notification configuration defines ops-slack`, errs[0].Error())
	errs = w.UnknownChannels(nil)
	require.Len(t, errs, 4)
	require.Equal(t, "alerts.yaml:6:15", errs[0].Pos.String(), "a single name is placed at its rule")
	require.Empty(t, (&Workflow{}).UnknownChannels(nil))
}
