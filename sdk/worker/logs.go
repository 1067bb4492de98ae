package worker

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/legatohq/legato/sdk/client"
)

// Log batching: lines are sent every logFlushEvery, at most logBatch lines
// a request; a line longer than maxLogLine is cut; when the server cannot
// be reached, at most maxPendingLines lines wait per attempt (older ones
// are dropped).
const (
	logFlushEvery   = 200 * time.Millisecond
	logBatch        = 1000
	maxLogLine      = 64 << 10
	maxPendingLines = 10000
)

// logBuffer gathers the log lines of the attempts in flight and sends them
// in batches, one request per attempt with lines.
type logBuffer struct {
	c   *client.Client
	log *slog.Logger

	mu      sync.Mutex
	pending map[int64]*attemptLines
	// write serializes flushes so that lines keep their order.
	write sync.Mutex
}

type attemptLines struct {
	token   string
	lines   []client.AttemptLogLine
	dropped int
}

func newLogBuffer(c *client.Client, log *slog.Logger) *logBuffer {
	return &logBuffer{c: c, log: log, pending: map[int64]*attemptLines{}}
}

// sink returns the log function of one attempt.
func (b *logBuffer) sink(id int64, token string) func(stream, line string) {
	return func(stream, line string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		p := b.pending[id]
		if p == nil {
			p = &attemptLines{token: token}
			b.pending[id] = p
		}
		p.lines = append(p.lines, client.AttemptLogLine{Stream: stream, Line: cut(line), At: time.Now().UTC()})
		if n := len(p.lines) - maxPendingLines; n > 0 {
			p.lines = p.lines[n:]
			p.dropped += n
		}
	}
}

// flush sends what is buffered. Lines the server could not take for a
// transient reason go back in front of the buffer for the next flush.
func (b *logBuffer) flush(ctx context.Context) {
	b.write.Lock()
	defer b.write.Unlock()
	b.mu.Lock()
	taken := b.pending
	b.pending = map[int64]*attemptLines{}
	b.mu.Unlock()
	for id, p := range taken {
		if p.dropped > 0 {
			b.log.Warn("task log lines dropped: the server could not take them in time", "attempt", id, "lines", p.dropped)
		}
		for len(p.lines) > 0 {
			n := min(len(p.lines), logBatch)
			err := b.c.AppendAttemptLogs(ctx, id, p.token, p.lines[:n])
			if err != nil && transient(err) && ctx.Err() == nil {
				b.log.Warn("send task logs, will try again", "attempt", id, "err", err)
				b.requeue(id, p)
				break
			}
			if err != nil {
				b.log.Error("send task logs", "attempt", id, "lines", n, "err", err)
			}
			p.lines = p.lines[n:]
		}
	}
}

// requeue puts unsent lines before the ones written since.
func (b *logBuffer) requeue(id int64, p *attemptLines) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if later := b.pending[id]; later != nil {
		p.lines = append(p.lines, later.lines...)
	}
	p.dropped = 0
	if n := len(p.lines) - maxPendingLines; n > 0 {
		p.lines = p.lines[n:]
		p.dropped = n
	}
	b.pending[id] = p
}

// run flushes every logFlushEvery until ctx ends, then once more (bounded
// by requestTimeout).
func (b *logBuffer) run(ctx context.Context) {
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
			b.flush(fctx)
			cancel()
			return
		case <-t.C:
			b.flush(ctx)
		}
	}
}

// cut shortens a line to maxLogLine bytes at a rune boundary.
func cut(line string) string {
	if len(line) <= maxLogLine {
		return line
	}
	return strings.ToValidUTF8(line[:maxLogLine], "")
}
