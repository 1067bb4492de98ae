package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

// exampleCase is one run of an example workflow through the CLI.
type exampleCase struct {
	name     string
	workflow string
	inputs   []string // -i values
	status   string   // the final status expected
	check    func(t *testing.T, s *server, r *Run)
}

// TestExamples applies examples/ at server start, checks that every file
// validates, and runs every example (and its failing variants) with
// `legato run NAME --wait -o json`, checking the final status, the outputs
// and what each task run did.
func TestExamples(t *testing.T) {
	examples := filepath.Join(repoRoot, "examples")
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)

	res := runCLI(t, time.Minute, append([]string{"validate"}, files...)...)
	require.Equal(t, 0, res.code, "%s", res)
	for _, f := range files {
		require.Contains(t, res.stdout, "ok "+f, "%s", res)
	}

	s := startServer(t, examples)

	cases := exampleCases()
	// Every example file must be exercised here.
	for _, f := range files {
		name := workflowName(t, f)
		require.True(t, slices.ContainsFunc(cases, func(c exampleCase) bool { return c.workflow == name }),
			"example %s (%s) has no case in TestExamples", name, filepath.Base(f))
	}

	// After every case (they run in parallel), a graceful stop.
	t.Cleanup(s.stop)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"run", c.workflow, "--wait", "-o", "json"}
			for _, in := range c.inputs {
				args = append(args, "-i", in)
			}
			res := s.cli(args...)
			want := 0
			if c.status != "succeeded" {
				want = 1
			}
			require.Equal(t, want, res.code, "%s", res)
			r := decodeRun(t, res.stdout)
			require.Equal(t, c.workflow, r.Workflow)
			require.Equal(t, c.status, r.Status, "run error: %s\n%s", r.Error, res)
			if c.status == "failed" {
				require.Contains(t, res.stderr, "legato: run "+r.ID+" failed: ", "%s", res)
			}
			// runs get returns the same final run.
			got := s.getRun(r.ID)
			require.Equal(t, r.Status, got.Status)
			require.Equal(t, len(r.Tasks), len(got.Tasks))
			c.check(t, s, r)
		})
	}
}

func exampleCases() []exampleCase {
	return []exampleCase{
		{
			name: "order-fulfillment", workflow: "order-fulfillment", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				requireTask(t, r, "reserve", "succeeded")
				requireTask(t, r, "approve", "skipped") // 250 is under the approval threshold
				requireTask(t, r, "invoice", "succeeded")
				requireTask(t, r, "notify", "succeeded")
				requireNoTask(t, r, "reserve.compensate")
				requireNoTask(t, r, "invoice.compensate")
				require.Equal(t, "INV-A-1001", r.Outputs["invoice_id"])
				require.Equal(t, "skipped", r.Outputs["approval"])
				require.Equal(t, "sent invoice INV-A-1001 to ada@example.com", r.Outputs["notification"])
			},
		},
		{
			name: "order-fulfillment/large", workflow: "order-fulfillment", status: "succeeded",
			inputs: []string{"order_id=B-7", "amount=5000"},
			check: func(t *testing.T, s *server, r *Run) {
				approve := requireTask(t, r, "approve", "succeeded")
				require.Equal(t, "approved", approve.Output.(map[string]any)["decision"])
				require.Equal(t, "succeeded", r.Outputs["approval"])
				require.Equal(t, "INV-B-7", r.Outputs["invoice_id"])
			},
		},
		{
			name: "order-fulfillment/over-credit-limit", workflow: "order-fulfillment", status: "failed",
			inputs: []string{"amount=99999"},
			check: func(t *testing.T, s *server, r *Run) {
				require.Contains(t, r.Error, "task invoice failed")
				requireTask(t, r, "reserve", "succeeded")
				requireTask(t, r, "approve", "succeeded")
				invoice := requireTask(t, r, "invoice", "failed")
				require.Contains(t, invoice.Error, "exit status 3")
				requireTask(t, r, "notify", "upstream_failed")
				comp := requireTask(t, r, "reserve.compensate", "succeeded")
				require.Equal(t, "compensation", comp.Kind)
				require.Contains(t, comp.Output.(map[string]any)["stdout"], "released the stock reserved for order A-1001")
				// The invoice failed, so there is nothing to void.
				requireNotRun(t, r, "invoice.compensate")

				logs := s.cli("logs", r.ID)
				require.Equal(t, 0, logs.code, "%s", logs)
				require.Contains(t, logs.stdout, "released the stock reserved for order A-1001", "%s", logs)
				require.Contains(t, logs.stdout, "exceeds the customer's credit limit", "%s", logs)
			},
		},
		{
			name: "order-fulfillment/notification-fails", workflow: "order-fulfillment", status: "failed",
			inputs: []string{"notify_fails=true"},
			check: func(t *testing.T, s *server, r *Run) {
				require.Contains(t, r.Error, "task notify failed")
				requireTask(t, r, "notify", "failed")
				void := requireTask(t, r, "invoice.compensate", "succeeded")
				release := requireTask(t, r, "reserve.compensate", "succeeded")
				require.Contains(t, void.Output.(map[string]any)["stdout"], "voided invoice INV-A-1001")
				// Reverse completion order: the invoice (done last) is voided first.
				require.False(t, release.StartedAt.Before(void.FinishedAt),
					"reserve.compensate started %s, before invoice.compensate finished %s", release.StartedAt, void.FinishedAt)
			},
		},
		{
			name: "employee-onboarding", workflow: "employee-onboarding", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				require.Equal(t, "ada.lovelace", r.Outputs["login"])
				require.Equal(t, "ada.lovelace@example.com", r.Outputs["email"])
				require.Equal(t, "@ada.lovelace", r.Outputs["chat_handle"])
				require.EqualValues(t, 4, r.Outputs["systems_granted"])
				require.Equal(t, "Welcome aboard, Ada Lovelace!", r.Outputs["welcome"])

				accounts := requireTask(t, r, "accounts", "succeeded")
				require.NotEmpty(t, accounts.ChildRunID, "a workflow task names its child run")
				child := s.getRun(accounts.ChildRunID)
				require.Equal(t, "create-accounts", child.Workflow)
				require.Equal(t, "succeeded", child.Status)
				require.Equal(t, r.ID, child.ParentRunID)
				require.Equal(t, "ada.lovelace", child.Inputs["user"])
				require.Equal(t, child.Outputs, accounts.Output, "the task's output is the child's outputs")

				items := requireItems(t, r, "access", 4)
				for i, it := range items {
					require.Equal(t, "succeeded", it.Status, it.Name())
					want := []string{"github", "jira", "vpn", "payroll"}[i]
					require.Contains(t, it.Output.(map[string]any)["stdout"], "access to "+want)
				}
				requireMaxOverlap(t, items, 2)

				// The join: training starts after the three branches.
				training := requireTask(t, r, "training", "succeeded")
				for _, id := range []string{"accounts", "equipment", "access"} {
					b := requireTask(t, r, id, "succeeded")
					require.False(t, training.StartedAt.Before(b.FinishedAt), "training started before %s finished", id)
				}
				require.Contains(t, training.Output.(map[string]any)["stdout"], "enrolled ada.lovelace@example.com")
			},
		},
		{
			name: "employee-onboarding/custom", workflow: "employee-onboarding", status: "succeeded",
			inputs: []string{"name=Grace Hopper", `systems=["github","vpn"]`},
			check: func(t *testing.T, s *server, r *Run) {
				require.Equal(t, "grace.hopper@example.com", r.Outputs["email"])
				require.EqualValues(t, 2, r.Outputs["systems_granted"])
				requireItems(t, r, "access", 2)
			},
		},
		{
			name: "create-accounts", workflow: "create-accounts", status: "succeeded",
			inputs: []string{"user=grace.hopper"},
			check: func(t *testing.T, s *server, r *Run) {
				require.Equal(t, "grace.hopper@example.com", r.Outputs["email"])
				require.Equal(t, "@grace.hopper", r.Outputs["chat_handle"])
				require.Empty(t, r.ParentRunID)
			},
		},
		{
			name: "incident-response", workflow: "incident-response", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				fix := requireTask(t, r, "auto_fix", "succeeded")
				require.Equal(t, 3, fix.Attempts, "the fix fails twice, then works")
				requireNotRun(t, r, "auto_fix.on_failure")
				requireTask(t, r, "notify_channel", "succeeded")
				requireTask(t, r, "update_ticket", "succeeded")
				require.Equal(t, "automation", r.Outputs["fixed_by"])
				require.Equal(t, false, r.Outputs["escalated"])
				require.Equal(t, true, r.Outputs["chat_notified"])
				require.True(t, strings.HasPrefix(r.Outputs["ticket"].(string), "INC-"), "%v", r.Outputs["ticket"])
			},
		},
		{
			name: "incident-response/escalated", workflow: "incident-response", status: "succeeded",
			inputs: []string{"fixable=false"},
			check: func(t *testing.T, s *server, r *Run) {
				fix := requireTask(t, r, "auto_fix", "succeeded")
				require.Equal(t, 3, fix.Attempts, "every retry is used before the fallback")
				require.Contains(t, fix.Error, "recovered by on_failure")
				fb := requireTask(t, r, "auto_fix.on_failure", "succeeded")
				require.Equal(t, "fallback", fb.Kind)
				require.Contains(t, fb.Output.(map[string]any)["stderr"], "paging the on-call engineer for db-1: exit status 1")
				update := requireTask(t, r, "update_ticket", "succeeded")
				require.Contains(t, update.Output.(map[string]any)["stdout"], "resolved by on-call")
				require.Equal(t, "on-call", r.Outputs["fixed_by"])
				require.Equal(t, true, r.Outputs["escalated"])
			},
		},
		{
			name: "incident-response/chat-down", workflow: "incident-response", status: "succeeded",
			inputs: []string{"chat_up=false"},
			check: func(t *testing.T, s *server, r *Run) {
				n := requireTask(t, r, "notify_channel", "failed")
				require.Contains(t, n.Error, "exit status 1")
				update := requireTask(t, r, "update_ticket", "succeeded")
				require.Contains(t, update.Output.(map[string]any)["stdout"], "chat notification: failed")
				require.Equal(t, false, r.Outputs["chat_notified"])
				require.Empty(t, r.Error)
			},
		},
		{
			name: "deployment", workflow: "deployment", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				for _, id := range []string{"build", "unit_tests", "deploy_canary", "bake", "health_check", "promote", "announce"} {
					requireTask(t, r, id, "succeeded")
				}
				requireNoTask(t, r, "deploy_canary.compensate")
				requireNoTask(t, r, "promote.compensate")
				bake := requireTask(t, r, "bake", "succeeded")
				require.Contains(t, bake.Output, "woke_at")
				require.GreaterOrEqual(t, bake.FinishedAt.Sub(bake.StartedAt), 900*time.Millisecond)
				require.Equal(t, "registry.local/checkout:1.4.2", r.Outputs["image"])
				require.Equal(t, "checkout 1.4.2 is live", r.Outputs["announcement"])
			},
		},
		{
			name: "deployment/unhealthy", workflow: "deployment", status: "failed",
			inputs: []string{"healthy=false"},
			check: func(t *testing.T, s *server, r *Run) {
				require.Contains(t, r.Error, "task health_check failed")
				hc := requireTask(t, r, "health_check", "failed")
				require.Equal(t, 3, hc.Attempts)
				requireTask(t, r, "promote", "upstream_failed")
				requireTask(t, r, "announce", "upstream_failed")
				rb := requireTask(t, r, "deploy_canary.compensate", "succeeded")
				require.Contains(t, rb.Output.(map[string]any)["stdout"], "rolled back the canary of registry.local/checkout:1.4.2")
				requireNotRun(t, r, "promote.compensate")
			},
		},
		{
			name: "cloud-provisioning", workflow: "cloud-provisioning", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				items := requireItems(t, r, "subnets", 3)
				requireMaxOverlap(t, items, 2)
				subnets, ok := r.Outputs["subnets"].([]any)
				require.True(t, ok, "subnets output: %#v", r.Outputs["subnets"])
				require.Len(t, subnets, 3)
				require.True(t, strings.HasPrefix(r.Outputs["vpc_id"].(string), "vpc-"))
				db := requireTask(t, r, "database", "succeeded")
				cluster := requireTask(t, r, "cluster", "succeeded")
				wait := requireTask(t, r, "wait_for_propagation", "succeeded")
				dns := requireTask(t, r, "dns", "succeeded")
				require.False(t, wait.StartedAt.Before(db.FinishedAt))
				require.False(t, wait.StartedAt.Before(cluster.FinishedAt))
				require.GreaterOrEqual(t, wait.FinishedAt.Sub(wait.StartedAt), 900*time.Millisecond)
				require.False(t, dns.StartedAt.Before(wait.FinishedAt))
				require.Contains(t, r.Outputs["dns"], "api.staging.example.internal CNAME k8s-staging.example.internal")
			},
		},
		{
			name: "nightly-report", workflow: "nightly-report", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				requireTask(t, r, "collect", "succeeded")
				require.Equal(t, "published the report of 2026-03-02T06:00:00+01:00", r.Outputs["report"])
				// Its cron trigger is a schedule with a next fire time.
				res := s.cli("schedules", "list", "--workflow", "nightly-report", "-o", "json")
				require.Equal(t, 0, res.code, "%s", res)
				require.Contains(t, res.stdout, `"name": "weekdays"`)
				require.Contains(t, res.stdout, `"next_fire_at": "`)
			},
		},
		{
			name: "cloud-provisioning/two-regions", workflow: "cloud-provisioning", status: "succeeded",
			inputs: []string{"env=prod", `regions=["eu-west-1","eu-central-1"]`},
			check: func(t *testing.T, s *server, r *Run) {
				requireItems(t, r, "subnets", 2)
				require.Len(t, r.Outputs["subnets"], 2)
				require.Equal(t, "postgres-prod.db.example.internal", r.Outputs["database"])
			},
		},
		{
			name: "nightly-close", workflow: "nightly-close", status: "succeeded",
			check: func(t *testing.T, s *server, r *Run) {
				requireTask(t, r, "publish", "succeeded")
				alerts := runAlerts(t, s, r.ID)
				require.Empty(t, alerts.SLABreachedAt)
				require.Empty(t, alerts.Notifications, "in time: no alert")
			},
		},
		{
			name: "nightly-close/late", workflow: "nightly-close", status: "succeeded",
			inputs: []string{"reconcile_time=3s"},
			check: func(t *testing.T, s *server, r *Run) {
				requireTask(t, r, "publish", "succeeded")
				alerts := runAlerts(t, s, r.ID)
				require.Empty(t, alerts.SLABreachedAt, "the run met its own SLA")
				require.Len(t, alerts.Notifications, 2, "one per channel")
				for _, n := range alerts.Notifications {
					require.Equal(t, "sla_breach", n.Event)
					require.Equal(t, "reconcile", n.Task)
					require.Equal(t, "nightly close of 2026-12-01 is late (run "+r.ID+")", n.Message)
					// The e2e server has no notification configuration.
					require.Equal(t, "failed", n.Status)
					require.Contains(t, n.LastError, "no channel")
				}
				breaches := 0
				for _, e := range s.events(r.ID) {
					if e.Type == "task.sla_breached" {
						breaches++
					}
				}
				require.Equal(t, 1, breaches)
			},
		},
	}
}

// runAlerts reads a run's SLA breach and notifications from the API.
func runAlerts(t *testing.T, s *server, id string) (out struct {
	SLABreachedAt string `json:"sla_breached_at"`
	Notifications []struct {
		Event, Task, Status, Message string
		LastError                    string `json:"last_error"`
	}
}) {
	t.Helper()
	// Delivery is tried after the run's transitions: wait until it settled.
	require.Eventually(t, func() bool {
		code, _ := s.api(http.MethodGet, "/api/v1/runs/"+id, nil, &out)
		if code != http.StatusOK {
			return false
		}
		for _, n := range out.Notifications {
			if n.Status == "pending" {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond)
	return out
}

// workflowName reads the name of a workflow file.
func workflowName(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Name string `yaml:"name"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc), path)
	require.NotEmpty(t, doc.Name, path)
	return doc.Name
}

// findTask returns the task run with that id (not a for_each item).
func findTask(r *Run, id string) (TaskRun, bool) {
	for _, tr := range r.Tasks {
		if tr.ID == id && tr.Index == nil {
			return tr, true
		}
	}
	return TaskRun{}, false
}

func requireTask(t *testing.T, r *Run, id, status string) TaskRun {
	t.Helper()
	tr, ok := findTask(r, id)
	require.True(t, ok, "run %s has no task run %q; tasks: %s", r.ID, id, taskSummary(r))
	require.Equal(t, status, tr.Status, "task run %s (error %q); tasks: %s", id, tr.Error, taskSummary(r))
	return tr
}

// requireNoTask checks that a run has no task run with that id.
func requireNoTask(t *testing.T, r *Run, id string) {
	t.Helper()
	_, ok := findTask(r, id)
	require.False(t, ok, "run %s has an unexpected task run %q; tasks: %s", r.ID, id, taskSummary(r))
}

// requireNotRun checks that a task run either does not exist or never ran
// (no attempts, not succeeded).
func requireNotRun(t *testing.T, r *Run, id string) {
	t.Helper()
	if tr, ok := findTask(r, id); ok {
		require.Zero(t, tr.Attempts, "task run %s ran; tasks: %s", id, taskSummary(r))
		require.NotEqual(t, "succeeded", tr.Status, "task run %s; tasks: %s", id, taskSummary(r))
	}
}

// requireItems checks a succeeded for_each task with n items, and returns
// the items in index order.
func requireItems(t *testing.T, r *Run, id string, n int) []TaskRun {
	t.Helper()
	agg := requireTask(t, r, id, "succeeded")
	list, ok := agg.Output.([]any)
	require.True(t, ok, "the output of for_each %s is a list: %#v", id, agg.Output)
	require.Len(t, list, n)
	var items []TaskRun
	for _, tr := range r.Tasks {
		if tr.ID == id && tr.Index != nil {
			require.Equal(t, "item", tr.Kind, tr.Name())
			require.Equal(t, "succeeded", tr.Status, tr.Name())
			require.Equal(t, len(items), *tr.Index, "items in index order")
			items = append(items, tr)
		}
	}
	require.Len(t, items, n, "tasks: %s", taskSummary(r))
	return items
}

// requireMaxOverlap checks that at no instant more than max of the task
// runs were between their start and their finish.
func requireMaxOverlap(t *testing.T, trs []TaskRun, max int) {
	t.Helper()
	for _, a := range trs {
		busy := 0
		for _, b := range trs {
			if !b.StartedAt.After(a.StartedAt) && b.FinishedAt.After(a.StartedAt) {
				busy++
			}
		}
		require.LessOrEqual(t, busy, max, "%d items running at %s (max_parallel %d)", busy, a.StartedAt, max)
	}
}

func taskSummary(r *Run) string {
	var b strings.Builder
	for _, tr := range r.Tasks {
		b.WriteString("\n  " + tr.Name() + " " + tr.Kind + " " + tr.Status)
		if tr.Error != "" {
			b.WriteString(" (" + tr.Error + ")")
		}
	}
	return b.String()
}
