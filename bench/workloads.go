package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/legatohq/legato/sdk/client"
)

// result is one workload's figures; fields that do not apply are omitted.
type result struct {
	Workload   string  `json:"workload"`
	Store      string  `json:"store"`
	Durability string  `json:"durability"`
	Quick      bool    `json:"quick"`
	Seconds    float64 `json:"seconds"`

	Runs    int `json:"runs,omitempty"`
	Tasks   int `json:"tasks,omitempty"`
	Repeats int `json:"repeats,omitempty"`

	TotalMS   *stat `json:"total_ms,omitempty"`
	StepMS    *stat `json:"step_ms,omitempty"`
	TasksPerS *stat `json:"tasks_s,omitempty"`

	RunsPerS float64 `json:"runs_s,omitempty"`
	P50MS    float64 `json:"p50_ms,omitempty"`
	P99MS    float64 `json:"p99_ms,omitempty"`

	RSSPerRunKiB float64 `json:"rss_per_run_kib,omitempty"`
	DrainMS      float64 `json:"drain_ms,omitempty"`

	ResumeMS   float64 `json:"resume_ms,omitempty"`
	Lost       *int    `json:"lost,omitempty"`
	Duplicates *int    `json:"duplicates,omitempty"`

	// Ratio is the headline's cost in floors: the time of a step, of a
	// task (1/rate) or of a run (1/rate) over one durable commit.
	Ratio float64 `json:"ratio_to_floor,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// stat is a median with its range over the repetitions.
type stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(xs []float64) *stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	return &stat{Median: round(s[len(s)/2]), Min: round(s[0]), Max: round(s[len(s)-1])}
}

type workload struct {
	name string
	run  func(context.Context, *env, *floorResult) (*result, error)
}

var suite = []workload{
	{"chain40", func(ctx context.Context, e *env, f *floorResult) (*result, error) { return chain(ctx, e, f, "noop") }},
	{"fanout1000", func(ctx context.Context, e *env, f *floorResult) (*result, error) { return fanout(ctx, e, f, "noop") }},
	{"runs10k", runs10k},
	{"event-latency", eventLatency},
	{"sleepers10k", sleepers},
	{"recovery", recovery},
	{"chain40-shell", func(ctx context.Context, e *env, f *floorResult) (*result, error) { return chain(ctx, e, f, "shell") }},
	{"fanout1000-shell", func(ctx context.Context, e *env, f *floorResult) (*result, error) { return fanout(ctx, e, f, "shell") }},
}

// taskYAML is a task of the given type doing nothing: noop, or shell `true`.
func taskYAML(typ string) string {
	if typ == "shell" {
		return "type: shell\n    with: {run: \"true\"}"
	}
	return "type: noop"
}

func (e *env) apply(ctx context.Context, name, src string) error {
	_, _, err := e.api.Apply(ctx, name+".yaml", []byte(src))
	return err
}

// runOnce starts one run and waits until it is final; it returns the run
// as the server recorded it (times are the server's).
func (e *env) runOnce(ctx context.Context, workflow string) (*client.Run, error) {
	r, err := e.api.StartRun(ctx, client.StartRunRequest{Workflow: workflow})
	if err != nil {
		return nil, err
	}
	return e.waitFinal(ctx, r.ID, workflow)
}

// waitFinal polls a run every 20ms until it is final. It reads the run
// through the run list (without its task runs): reading a run of 1,000
// task runs 200 times a second would load the server it measures.
func (e *env) waitFinal(ctx context.Context, id string, workflow string) (*client.Run, error) {
	for {
		rs, err := e.api.Runs(ctx, client.RunsQuery{Namespace: "default", Workflow: workflow, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(rs) != 1 || rs[0].ID != id {
			return nil, fmt.Errorf("run %s is not the latest of %s", id, workflow)
		}
		r := &rs[0]
		if r.Final() {
			if r.Status != client.StatusSucceeded {
				return r, fmt.Errorf("run %s %s: %s", id, r.Status, r.Error)
			}
			return r, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func chain(ctx context.Context, e *env, f *floorResult, typ string) (*result, error) {
	const steps = 40
	name := "bench-chain-" + typ
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\ntasks:\n", name)
	for i := range steps {
		fmt.Fprintf(&b, "  - id: t%02d\n    %s\n", i, taskYAML(typ))
		if i > 0 {
			fmt.Fprintf(&b, "    needs: [t%02d]\n", i-1)
		}
	}
	totals, err := e.repeat(ctx, name, b.String(), 10, 3)
	if err != nil {
		return nil, err
	}
	repeats := len(totals)
	stepsMS := make([]float64, repeats)
	for i, t := range totals {
		stepsMS[i] = t / steps
	}
	res := &result{Runs: repeats, Tasks: steps, Repeats: repeats, TotalMS: statOf(totals), StepMS: statOf(stepsMS)}
	res.Ratio = round(res.StepMS.Median / f.CommitMS)
	return res, nil
}

// repeat applies src and runs its workflow `full` times (`quick` with
// --quick), one run after the other; it returns each run's total time in
// ms, creation to end, by the server's clock.
func (e *env) repeat(ctx context.Context, name, src string, full, quick int) ([]float64, error) {
	if err := e.apply(ctx, name, src); err != nil {
		return nil, err
	}
	n := full
	if e.cfg.quick {
		n = quick
	}
	totals := make([]float64, n)
	for i := range totals {
		r, err := e.runOnce(ctx, name)
		if err != nil {
			return nil, err
		}
		totals[i] = ms(r.FinishedAt.Sub(r.CreatedAt))
	}
	return totals, nil
}

func fanout(ctx context.Context, e *env, f *floorResult, typ string) (*result, error) {
	const items = 1000
	name := "bench-fanout-" + typ
	list := make([]string, items)
	for i := range list {
		list[i] = fmt.Sprint(i)
	}
	src := fmt.Sprintf("name: %s\ntasks:\n  - id: each\n    for_each: [%s]\n    %s\n  - id: join\n    needs: [each]\n    type: noop\n",
		name, strings.Join(list, ", "), taskYAML(typ))
	totals, err := e.repeat(ctx, name, src, 3, 1)
	if err != nil {
		return nil, err
	}
	repeats := len(totals)
	rates := make([]float64, repeats)
	for i, t := range totals {
		rates[i] = float64(items+1) / (t / 1000)
	}
	res := &result{Runs: repeats, Tasks: items + 1, Repeats: repeats, TotalMS: statOf(totals), TasksPerS: statOf(rates)}
	res.Ratio = round(1000 / res.TasksPerS.Median / f.CommitMS)
	return res, nil
}

// parallel runs f(i) for i in [0, n) on `clients` goroutines and returns
// the first error.
func parallel(ctx context.Context, n, clients int, f func(context.Context, int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// startMany starts n runs of workflow with 32 concurrent clients, each
// starting its next run as soon as the server answered the last, and
// returns the runs' ids and when each request was sent (so a latency
// counts the time a start waited in the server before its run existed).
func (e *env) startMany(ctx context.Context, workflow string, n int) ([]string, []time.Time, error) {
	ids := make([]string, n)
	sent := make([]time.Time, n)
	err := parallel(ctx, n, 32, func(ctx context.Context, i int) error {
		sent[i] = time.Now()
		r, err := e.api.StartRun(ctx, client.StartRunRequest{Workflow: workflow})
		if err == nil {
			ids[i] = r.ID
		}
		return err
	})
	return ids, sent, err
}

// finalAll waits until no run of the workflow is queued, running or
// waiting, then returns the runs ids names. It polls three run lists (one
// row each) every 50ms rather than each run: reading thousands of runs
// while they run would load the server it measures (the figures come
// from the server's timestamps, not from when the harness sees them).
func (e *env) finalAll(ctx context.Context, workflow string, ids []string, limit time.Duration) ([]*client.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for busy := true; busy; {
		busy = false
		for _, st := range []string{"queued", "running", "waiting"} {
			rs, err := e.api.Runs(ctx, client.RunsQuery{Namespace: "default", Workflow: workflow, Status: st, Limit: 1})
			if err != nil {
				return nil, fmt.Errorf("runs of %s still not final after %s: %w", workflow, limit, err)
			}
			if len(rs) > 0 {
				busy = true
				break
			}
		}
		if busy {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("runs of %s still not final after %s", workflow, limit)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	runs := make([]*client.Run, len(ids))
	err := parallel(ctx, len(ids), 16, func(ctx context.Context, i int) error {
		r, err := e.api.Run(ctx, ids[i])
		if err == nil && !r.Final() {
			err = fmt.Errorf("run %s is %s", ids[i], r.Status)
		}
		runs[i] = r
		return err
	})
	return runs, err
}

func runs10k(ctx context.Context, e *env, f *floorResult) (*result, error) {
	n := 10000
	if e.cfg.quick {
		n = 1000
	}
	src := "name: bench-three\ntasks:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a]}\n  - {id: c, type: noop, needs: [b]}\n"
	if err := e.apply(ctx, "bench-three", src); err != nil {
		return nil, err
	}
	ids, sent, err := e.startMany(ctx, "bench-three", n)
	if err != nil {
		return nil, err
	}
	runs, err := e.finalAll(ctx, "bench-three", ids, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	// The server and the harness share the machine's clock: a run's
	// latency is from its request being sent to the server's finish.
	first, last := sent[0], runs[0].FinishedAt
	lat := make([]float64, 0, n)
	for i, r := range runs {
		if r.Status != client.StatusSucceeded {
			return nil, fmt.Errorf("run %s %s: %s", r.ID, r.Status, r.Error)
		}
		if sent[i].Before(first) {
			first = sent[i]
		}
		if r.FinishedAt.After(last) {
			last = r.FinishedAt
		}
		lat = append(lat, ms(r.FinishedAt.Sub(sent[i])))
	}
	slices.Sort(lat)
	res := &result{Runs: n, Tasks: 3 * n, RunsPerS: round(float64(n) / last.Sub(first).Seconds()),
		P50MS: lat[len(lat)/2], P99MS: lat[len(lat)*99/100]}
	res.Ratio = round(1000 / res.RunsPerS / f.CommitMS)
	return res, nil
}

// eventClients post the events of event-latency: one, so the figure is
// the latency of an event, not of a queue of them (with 4 clients the
// p50 is about 50 times higher on SQLite: bench/README.md).
var eventClients = 1

func eventLatency(ctx context.Context, e *env, f *floorResult) (*result, error) {
	n := 1000
	if e.cfg.quick {
		n = 200
	}
	src := "name: bench-event\ntriggers:\n  - event: bench.poke\ntasks:\n  - {id: a, type: noop}\n"
	if err := e.apply(ctx, "bench-event", src); err != nil {
		return nil, err
	}
	ids := make([]string, n)
	// Events arrive one after the other.
	if err := parallel(ctx, n, eventClients, func(ctx context.Context, i int) error {
		res, err := e.api.Emit(ctx, client.CloudEvent{Type: "bench.poke", Source: "bench", ID: fmt.Sprintf("poke-%d", i)})
		if err != nil {
			return err
		}
		if len(res.Runs) != 1 {
			return fmt.Errorf("event %d started %d runs", i, len(res.Runs))
		}
		ids[i] = res.Runs[0]
		return nil
	}); err != nil {
		return nil, err
	}
	runs, err := e.finalAll(ctx, "bench-event", ids, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	lat := make([]float64, 0, n)
	for _, r := range runs {
		full, err := e.api.Run(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if full.Trigger == nil || full.Trigger.StartLatencyMS == nil {
			return nil, fmt.Errorf("run %s has no trigger latency", r.ID)
		}
		lat = append(lat, *full.Trigger.StartLatencyMS)
	}
	slices.Sort(lat)
	res := &result{Runs: n, P50MS: round(lat[len(lat)/2]), P99MS: round(lat[len(lat)*99/100]),
		Note: "event accepted (stored) to the run's first task started, from the run's trigger record"}
	res.Ratio = round(res.P99MS / f.CommitMS)
	return res, nil
}

func sleepers(ctx context.Context, e *env, f *floorResult) (*result, error) {
	n := 10000
	if e.cfg.quick {
		n = 1000
	}
	if err := e.apply(ctx, "bench-sleeper", "name: bench-sleeper\ntasks:\n  - {id: nap, type: sleep, with: {duration: 1h}}\n"); err != nil {
		return nil, err
	}
	before, err := e.rss()
	if err != nil {
		return nil, err
	}
	ids, _, err := e.startMany(ctx, "bench-sleeper", n)
	if err != nil {
		return nil, err
	}
	// Every run is waiting once its start returned (the sleep is set in the
	// start's transaction); give the server a moment to settle.
	time.Sleep(time.Second)
	after, err := e.rss()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	if err := parallel(ctx, n, 32, func(ctx context.Context, i int) error {
		_, err := e.api.CancelRun(ctx, ids[i])
		return err
	}); err != nil {
		return nil, err
	}
	drain := time.Since(began)
	res := &result{Runs: n, RSSPerRunKiB: round(float64(after-before) / 1024 / float64(n)), DrainMS: ms(drain),
		Note: fmt.Sprintf("RSS %d KiB before, %d KiB with every run waiting", before/1024, after/1024)}
	res.Ratio = round(ms(drain) / float64(n) / f.CommitMS)
	return res, nil
}

func recovery(ctx context.Context, e *env, f *floorResult) (*result, error) {
	n := 1000
	if e.cfg.quick {
		n = 200
	}
	src := "name: bench-recovery\ntasks:\n" +
		"  - {id: a, type: noop, with: {delay: 20ms}}\n" +
		"  - {id: b, type: noop, needs: [a], with: {delay: 20ms}}\n" +
		"  - {id: c, type: noop, needs: [b], with: {delay: 20ms}}\n"
	if err := e.apply(ctx, "bench-recovery", src); err != nil {
		return nil, err
	}
	ids, _, err := e.startMany(ctx, "bench-recovery", n)
	if err != nil {
		return nil, err
	}
	e.kill()
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	restarted := time.Now().UTC()
	runs, err := e.finalAll(ctx, "bench-recovery", ids, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	done := time.Since(restarted)
	lost, dups := 0, 0
	resume := time.Duration(-1)
	for _, r := range runs {
		if r.Status != client.StatusSucceeded {
			lost++
		}
		full, err := e.api.Run(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, t := range full.Tasks {
			if t.FinishedAt.After(restarted) {
				if d := t.FinishedAt.Sub(restarted); resume < 0 || d < resume {
					resume = d
				}
			}
		}
		evs, _, err := e.api.Events(ctx, r.ID, 0)
		if err != nil {
			return nil, err
		}
		seen := map[string]int{}
		for _, ev := range evs {
			if ev.Type == "task.succeeded" {
				seen[ev.Task]++
			}
		}
		for _, c := range seen {
			dups += c - 1
		}
	}
	res := &result{Runs: n, Lost: &lost, Duplicates: &dups, ResumeMS: ms(resume), TotalMS: &stat{Median: ms(done), Min: ms(done), Max: ms(done)},
		Note: "resume_ms: restart (ready) to the first task finishing; total_ms: restart to every run final"}
	res.Ratio = round(ms(resume) / f.CommitMS)
	return res, nil
}
