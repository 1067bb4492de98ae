package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/legatohq/legato/internal/engine"
	"github.com/legatohq/legato/internal/store"
	"github.com/legatohq/legato/internal/tasks"
)

// logFlushEvery is how often buffered task log lines are written.
const logFlushEvery = 200 * time.Millisecond

// logBuffer gathers the log lines of every attempt in flight and writes
// them in one transaction per flush, so a chatty task costs few commits.
type logBuffer struct {
	e   *engine.Engine
	log *slog.Logger

	mu    sync.Mutex
	lines []*store.LogLine
	// write serializes flushes so lines keep their order.
	write sync.Mutex
}

func newLogBuffer(e *engine.Engine, log *slog.Logger) *logBuffer {
	return &logBuffer{e: e, log: log}
}

// sink returns the LogFunc of one attempt.
func (b *logBuffer) sink(a *store.Attempt) tasks.LogFunc {
	return func(stream, line string) {
		b.mu.Lock()
		b.lines = append(b.lines, &store.LogLine{
			RunID: a.RunID, Task: a.Task, Index: a.Index, Attempt: a.Number, Stream: stream, Line: line, At: time.Now().UTC(),
		})
		b.mu.Unlock()
	}
}

// flush writes what is buffered.
func (b *logBuffer) flush(ctx context.Context) {
	b.write.Lock()
	defer b.write.Unlock()
	b.mu.Lock()
	lines := b.lines
	b.lines = nil
	b.mu.Unlock()
	if len(lines) == 0 {
		return
	}
	if err := b.e.AppendLogs(ctx, lines); err != nil {
		b.log.Error("write task logs", "err", err)
	}
}

func (b *logBuffer) run(ctx context.Context) {
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			b.flush(ctx)
		}
	}
}
