package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/legatohq/legato/sdk/client"
)

// symbol is the one-character mark of a run or task run status.
func symbol(status string) string {
	switch status {
	case client.TaskPending:
		return "·"
	case client.StatusQueued:
		return "○"
	case client.StatusRunning:
		return "▶"
	case client.StatusWaiting:
		return "⏸"
	case client.StatusSucceeded:
		return "✓"
	case client.StatusFailed:
		return "✗"
	case client.TaskSkipped:
		return "↷"
	case client.TaskUpstreamFailed:
		return "⊘"
	case client.StatusCanceled:
		return "⊗"
	}
	return "?"
}

// progress shows a followed run as it changes.
type progress interface {
	update(r *client.Run)
	// stop ends the display; the last update stays on screen.
	stop()
}

// lineProgress prints one line per change, for logs and pipes:
//
//	12:00:01 run 01JH… running
//	12:00:01 task reserve running
//	12:00:02 task reserve succeeded (1.0s)
type lineProgress struct {
	w      io.Writer
	status string            // of the run
	tasks  map[string]string // task run name → status
}

func newLineProgress(w io.Writer) *lineProgress {
	return &lineProgress{w: w, tasks: map[string]string{}}
}

func (p *lineProgress) update(r *client.Run) {
	// The run's final status comes after the task changes that led to it.
	changed := r.Status != p.status && !(p.status == "" && r.Status == client.StatusQueued)
	if changed && !r.Final() {
		p.printf(r.StartedAt, "run %s %s", r.ID, r.Status)
	}
	p.status = r.Status
	defer func() {
		if changed && r.Final() {
			p.printf(r.FinishedAt, "run %s %s", r.ID, r.Status)
		}
	}()
	for _, t := range r.Tasks {
		name := t.Name()
		old, seen := p.tasks[name]
		p.tasks[name] = t.Status
		if t.Status == old || (!seen && t.Status == client.TaskPending) {
			continue
		}
		at, extra := t.StartedAt, ""
		if !t.FinishedAt.IsZero() {
			at = t.FinishedAt
			if !t.StartedAt.IsZero() {
				extra = " (" + short(t.FinishedAt.Sub(t.StartedAt)) + ")"
			}
		}
		if t.Error != "" && (t.Status == client.StatusFailed || t.Status == client.StatusRunning) {
			extra += ": " + oneLine(t.Error, 120)
		}
		p.printf(at, "task %s %s%s", name, t.Status, extra)
	}
}

func (p *lineProgress) printf(at time.Time, format string, args ...any) {
	if at.IsZero() {
		at = nowFunc()
	}
	fmt.Fprintf(p.w, "%s %s\n", at.Local().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (p *lineProgress) stop() {}

// liveProgress redraws a table of the run's tasks in place on a terminal,
// every tick (so running durations move) and on every change.
type liveProgress struct {
	w     io.Writer
	mu    sync.Mutex
	run   *client.Run
	lines int // lines drawn last time, to move back over
	frame int
	done  chan struct{}
	wg    sync.WaitGroup
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newLiveProgress(w io.Writer) *liveProgress {
	p := &liveProgress{w: w, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(120 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				p.mu.Lock()
				p.frame++
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *liveProgress) update(r *client.Run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.run = r
	p.draw()
}

func (p *liveProgress) stop() {
	close(p.done)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
}

// draw must be called with mu held.
func (p *liveProgress) draw() {
	r := p.run
	if r == nil {
		return
	}
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", p.lines) // up, clear to the end of the screen
	}
	mark := func(status string) string {
		if status == client.StatusRunning {
			return spinner[p.frame%len(spinner)]
		}
		return symbol(status)
	}
	tw := newTable(&b)
	fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark(r.Status), runName(r), r.Status, span(r.StartedAt, r.FinishedAt), r.ID)
	for _, t := range r.Tasks {
		extra := ""
		if t.Attempts > 1 {
			extra = fmt.Sprintf("attempt %d", t.Attempts)
		}
		if t.Error != "" {
			extra = strings.TrimSpace(extra + " " + oneLine(t.Error, 60))
		}
		indent := "  "
		if t.Kind == "item" {
			indent = "    "
		}
		fmt.Fprintf(tw, "%s%s %s\t%s\t%s\t%s\n", indent, mark(t.Status), t.Name(), t.Status, span(t.StartedAt, t.FinishedAt), extra)
	}
	_ = tw.Flush()
	out := b.String()
	p.lines = 1 + len(r.Tasks)
	_, _ = io.WriteString(p.w, out)
}
