package engine

import (
	"github.com/legatohq/legato/internal/spec"
	"github.com/legatohq/legato/internal/store"
)

// The progress of a running for_each task: how many of its items have no
// task run yet, how many are active, how many finished, and which item to
// launch next. advanceForEach needs it at every Decide of the run, and
// counting it over every item made each completion of a large fan-out cost
// O(items). A State keeps it instead, one forEachCount per for_each task,
// brought up to date from the item keys that changed.
//
// Invariant: once s.syncForEach has run, for every task t in s.forEach and
// its counter c:
//
//   - c.seen[i] is the class (itemMissing, itemActive, itemFinished) of
//     the task run s.Tasks[Key{t, i}], for every item i < c.items;
//   - c.active and c.finished count the items of those classes;
//   - every item below c.next has a task run.
//
// Between two syncs, every item key whose task run may have been created,
// changed, replaced or removed since it was last counted is listed in
// s.forEachDirty: touch and remove (through which every change of a task
// run in Decide goes) and refresh (which replaces running task runs read
// from the store, outside Decide) list it. Counting a key again is
// idempotent, so a key may be listed any number of times, and it may be
// listed before its task run's status is set (a sync never runs between).
//
// The counter also keeps the evaluated items, so that launching an item
// under max_parallel does not evaluate the whole list again.
//
// A counter is built by one scan of the items when advanceForEach first
// needs it (a State freshly loaded) or the aggregate's item count is not
// the counter's. It is dropped once every item finished, and on a run
// retry: the items may differ then (a task the for_each needs may run
// again), and the retry removes task runs of any number of tasks anyway.
type forEachCount struct {
	items            int // the aggregate's Items when counted
	active, finished int
	// next: every item below it has a task run (a hint where the next
	// missing item is; only removals lower it).
	next int
	seen []itemClass
	// list is the items, evaluated at the first launch (nil before). The
	// for_each expression sees only the run's inputs, env and attempt and
	// the tasks the task needs (spec validation), none of which change
	// while the task runs (a retry drops the counter).
	list []any
}

type itemClass uint8

const (
	itemMissing itemClass = iota
	itemActive
	itemFinished
)

func classOf(tr *store.TaskRun) itemClass {
	switch {
	case tr == nil:
		return itemMissing
	case tr.Status.Terminal():
		return itemFinished
	}
	return itemActive
}

// count records that item i is now of class cl.
func (c *forEachCount) count(i int, cl itemClass) {
	if i < 0 || i >= c.items || c.seen[i] == cl {
		return
	}
	switch c.seen[i] {
	case itemActive:
		c.active--
	case itemFinished:
		c.finished--
	}
	switch cl {
	case itemActive:
		c.active++
	case itemFinished:
		c.finished++
	case itemMissing:
		c.next = min(c.next, i)
	}
	c.seen[i] = cl
}

func (c *forEachCount) missing() int { return c.items - c.active - c.finished }

// nextMissing returns the lowest item without a task run (c.items when
// none), moving the hint on.
func (c *forEachCount) nextMissing() int {
	for c.next < c.items && c.seen[c.next] != itemMissing {
		c.next++
	}
	return c.next
}

// noteItem lists an item key whose task run may have changed.
func (s *State) noteItem(k Key) {
	if k.Index >= 0 && s.forEach[k.Task] != nil {
		s.forEachDirty = append(s.forEachDirty, k)
	}
}

// syncForEach counts again the item keys listed since the last sync.
func (s *State) syncForEach() {
	for _, k := range s.forEachDirty {
		if c := s.forEach[k.Task]; c != nil {
			c.count(k.Index, classOf(s.Tasks[k]))
		}
	}
	s.forEachDirty = s.forEachDirty[:0]
}

// forEachCounts returns the up-to-date counter of the for_each task t
// whose aggregate task run is agg, built by a scan of its items when the
// State has none for it.
func (s *State) forEachCounts(t *spec.Task, agg *store.TaskRun) *forEachCount {
	s.syncForEach()
	if c := s.forEach[t.ID]; c != nil && c.items == agg.Items {
		return c
	}
	c := &forEachCount{items: agg.Items, seen: make([]itemClass, agg.Items)}
	for i := range c.seen {
		c.count(i, classOf(s.Tasks[Key{t.ID, i}]))
	}
	if s.forEach == nil {
		s.forEach = map[string]*forEachCount{}
	}
	s.forEach[t.ID] = c
	return c
}

// dropForEach forgets the counter of one for_each task ("" every one).
func (s *State) dropForEach(task string) {
	if task == "" {
		s.forEach = nil
		s.forEachDirty = nil
		return
	}
	delete(s.forEach, task)
}

// forEachItems returns the items of the for_each task t, evaluated once
// per counter.
func (s *State) forEachItems(t *spec.Task, c *forEachCount) ([]any, error) {
	if c.list == nil {
		list, err := s.items(t)
		if err != nil {
			return nil, err
		}
		c.list = list
	}
	return c.list, nil
}
