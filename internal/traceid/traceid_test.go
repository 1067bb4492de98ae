package traceid_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/legatohq/legato/internal/traceid"
)

func TestIDs(t *testing.T) {
	t.Parallel()
	run := "0192f6c4-7b1a-7cde-8f01-23456789abcd"
	require.Equal(t, strings.ReplaceAll(run, "-", ""), traceid.TraceID(run).String(), "a run's trace id is its UUID")
	require.True(t, traceid.TraceID("not-a-uuid").IsValid())
	require.Equal(t, traceid.RunSpanID(run, 1), traceid.RunSpanID(run, 0))
	require.NotEqual(t, traceid.RunSpanID(run, 1), traceid.RunSpanID(run, 2), "each run execution has its span")
	a1 := traceid.AttemptSpanID(run, "t", -1, 1)
	require.Equal(t, a1, traceid.AttemptSpanID(run, "t", -1, 1), "stable")
	require.NotEqual(t, a1, traceid.AttemptSpanID(run, "t", -1, 2))
	require.NotEqual(t, a1, traceid.AttemptSpanID(run, "t", 0, 1))

	h := http.Header{}
	traceid.InjectAttempt(t.Context(), h, run, "t", -1, 1)
	require.Equal(t, "00-"+traceid.TraceID(run).String()+"-"+a1.String()+"-01", h.Get("traceparent"))
	h.Set("traceparent", "00-mine")
	traceid.InjectAttempt(t.Context(), h, run, "t", -1, 2)
	require.Equal(t, "00-mine", h.Get("traceparent"), "a task's own traceparent header wins")
}
