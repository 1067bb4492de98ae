package engine

import (
	"sync"

	"github.com/legatohq/legato/internal/store"
)

// maxCachedStates bounds the runs whose state the engine keeps between
// transactions: enough for thousands of runs in flight at once (a run of
// a few tasks keeps a few KiB), while runs that wait keep nothing.
const maxCachedStates = 8192

// stateCache keeps the state of runs as their last committed transition
// on this engine left them, so that the next transition of a run does not
// read all its task runs again. An entry is only a guess, checked in the
// next transaction against the run's revision, read (and, on PostgreSQL,
// locked) there:
//
//   - every transition updates its run, which increments the run's
//     Revision: an entry of another revision is dropped and the run is
//     loaded in full (another server, or a transaction of this engine
//     whose state was not kept, wrote it);
//   - the only other writes to task runs are claims, which make task runs
//     running: the running task runs of the run are read again (a partial
//     index makes that as many rows as are running).
//
// A transaction takes the entries of the runs it loads out of the cache
// and puts their states back only once it has committed: a transaction
// that fails leaves nothing of what it decided behind.
type stateCache struct {
	mu sync.Mutex
	m  map[string]*State
}

// has reports whether a state is kept for the run.
func (c *stateCache) has(runID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[runID] != nil
}

// take removes and returns the state kept for the run at revision rev and
// workflow version, or nil.
func (c *stateCache) take(runID string, rev int64, version int) *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.m[runID]
	if st == nil {
		return nil
	}
	delete(c.m, runID)
	if st.Run.Revision != rev || st.Run.Version != version {
		return nil
	}
	return st
}

// keep stores the states a transaction committed. Only runs with work in
// flight are kept: a run that finished (a retry loads it again) or that
// waits (on a sleep, an event or a child: its next transition may be hours
// away) is dropped, so that waiting runs cost no memory.
func (c *stateCache) keep(states map[string]*State) {
	if len(states) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*State{}
	}
	for id, st := range states {
		if st.Run.Status.Terminal() || st.Run.Status == store.RunWaiting {
			delete(c.m, id)
			continue
		}
		prev, ok := c.m[id]
		if ok && prev.Run.Revision > st.Run.Revision {
			continue // a later transaction committed first
		}
		if !ok && len(c.m) >= maxCachedStates {
			for other := range c.m { // evict any one
				delete(c.m, other)
				break
			}
		}
		c.m[id] = st
	}
}

// refresh brings a kept state, whose run's row is unchanged, up to date
// with the run's running task runs (read in the transaction).
func (st *State) refresh(running []*store.TaskRun) {
	for _, tr := range running {
		k := Key{tr.Task, tr.Index}
		st.Tasks[k] = tr
		st.noteItem(k)
	}
}

// taskRuns copies the state's task runs, in key order.
func (st *State) taskRuns() []*store.TaskRun {
	out := make([]*store.TaskRun, 0, len(st.Tasks))
	for _, k := range st.sortedKeys() {
		c := *st.Tasks[k]
		out = append(out, &c)
	}
	return out
}
