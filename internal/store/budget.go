package store

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Budget is what the limits leave to one claim. A driver builds it from
// the limit rows (locked, where writers are concurrent) and the counts of
// running attempts, leaves out of its candidates the names Blocked
// reports, offers the rest to Take in claim order, and writes back the
// buckets Taken reports. Keeping the arithmetic here keeps the drivers'
// rules the same.
type Budget struct {
	now     time.Time
	entries map[limitKey]*budgetEntry
}

type limitKey struct {
	kind LimitKind
	name string
}

type budgetEntry struct {
	l *Limit
	// free is the number of attempts that may still start (-1: no bound).
	free  int
	taken bool
}

// RunningCount is how many attempts of one (queue, type, resource) run.
type RunningCount struct {
	Queue, Type, Resource string
	N                     int
}

// NewBudget refills the limits' buckets to now and subtracts the running
// attempts from their MaxRunning. A now before a bucket's last refill (a
// claim that read the clock, then waited for another's lock) is taken as
// that refill: see Now.
func NewBudget(limits []*Limit, running []RunningCount, now time.Time) *Budget {
	for _, l := range limits {
		if l.Rate > 0 && l.RefilledAt.After(now) {
			now = l.RefilledAt
		}
	}
	b := &Budget{now: now, entries: make(map[limitKey]*budgetEntry, len(limits))}
	for _, l := range limits {
		e := &budgetEntry{l: l, free: -1}
		if l.MaxRunning > 0 {
			e.free = l.MaxRunning
		}
		l.Refill(now)
		b.entries[limitKey{l.Kind, l.Name}] = e
	}
	for _, r := range running {
		for _, k := range keysOf(r.Queue, r.Type, r.Resource) {
			if e := b.entries[k]; e != nil && e.free >= 0 {
				e.free = max(0, e.free-r.N)
			}
		}
	}
	return b
}

// Now is the claim's time as the buckets count it: never before the last
// refill of any bucket, so that claims serialized by the limit rows get
// non-decreasing times and the rate holds over the times attempts record
// as their start. Drivers stamp the attempts they lease with it.
func (b *Budget) Now() time.Time { return b.now }

// Empty reports whether no limit applies at all.
func (b *Budget) Empty() bool { return len(b.entries) == 0 }

func keysOf(queue, typ, resource string) []limitKey {
	keys := []limitKey{{LimitQueue, queue}, {LimitType, typ}}
	if resource != "" {
		keys = append(keys, limitKey{LimitResource, resource})
	}
	return keys
}

func (e *budgetEntry) full() bool  { return e.free == 0 }
func (e *budgetEntry) empty() bool { return e.l.Rate > 0 && e.l.Tokens < 1 }

// Blocked returns the queues, types and resources that can start no
// attempt now (a full MaxRunning or an empty bucket), each sorted.
func (b *Budget) Blocked() (queues, types, resources []string) {
	return b.names(func(e *budgetEntry) bool { return e.full() || e.empty() })
}

// Full returns the queues, types and resources whose MaxRunning is
// reached, each sorted.
func (b *Budget) Full() (queues, types, resources []string) {
	return b.names((*budgetEntry).full)
}

func (b *Budget) names(match func(*budgetEntry) bool) (queues, types, resources []string) {
	for k, e := range b.entries {
		if !match(e) {
			continue
		}
		switch k.kind {
		case LimitQueue:
			queues = append(queues, k.name)
		case LimitType:
			types = append(types, k.name)
		case LimitResource:
			resources = append(resources, k.name)
		}
	}
	slices.Sort(queues)
	slices.Sort(types)
	slices.Sort(resources)
	return queues, types, resources
}

// LimitRecheck is how soon a worker looks again at attempts held back by
// a full MaxRunning that a finish elsewhere (another worker, another
// server) may have freed: AttemptNextDue reports now + LimitRecheck for
// them. A worker whose own attempt finishes looks at once.
const LimitRecheck = time.Second

// Take reports whether an attempt of queue, type and resource may start
// now and, when it may, counts it against every limit it falls under.
func (b *Budget) Take(queue, typ, resource string) bool {
	keys := keysOf(queue, typ, resource)
	for _, k := range keys {
		if e := b.entries[k]; e != nil && (e.full() || e.empty()) {
			return false
		}
	}
	for _, k := range keys {
		e := b.entries[k]
		if e == nil {
			continue
		}
		if e.free > 0 {
			e.free--
		}
		if e.l.Rate > 0 {
			e.l.Tokens--
			e.taken = true
		}
	}
	return true
}

// Taken returns the limits whose buckets Take drew from: the driver
// stores their Tokens and RefilledAt.
func (b *Budget) Taken() []*Limit {
	var out []*Limit
	for _, e := range b.entries {
		if e.taken {
			out = append(out, e.l)
		}
	}
	slices.SortFunc(out, func(x, y *Limit) int {
		if x.Kind != y.Kind {
			return cmp.Compare(x.Kind, y.Kind)
		}
		return cmp.Compare(x.Name, y.Name)
	})
	return out
}

// BucketWait is an empty bucket whose limit is otherwise free: its
// attempts become claimable At, when it holds a token again.
type BucketWait struct {
	Kind LimitKind
	Name string
	At   time.Time
}

// Waits returns the empty buckets and when each holds a token again
// (rounded up to the millisecond, so a worker woken then finds it).
func (b *Budget) Waits() []BucketWait {
	var out []BucketWait
	for k, e := range b.entries {
		if !e.empty() || e.full() {
			continue
		}
		d := time.Duration((1 - e.l.Tokens) / e.l.Rate * float64(time.Second))
		at := e.l.RefilledAt.Add(d).Add(time.Millisecond).Truncate(time.Millisecond)
		out = append(out, BucketWait{Kind: k.kind, Name: k.name, At: at})
	}
	slices.SortFunc(out, func(x, y BucketWait) int { return x.At.Compare(y.At) })
	return out
}

// Refill adds the tokens earned since RefilledAt, up to Burst, as of now
// (a now before RefilledAt changes nothing).
func (l *Limit) Refill(now time.Time) {
	if l.Rate <= 0 {
		return
	}
	if d := now.Sub(l.RefilledAt).Seconds(); d > 0 {
		l.Tokens = math.Min(l.Burst, l.Tokens+d*l.Rate)
		l.RefilledAt = now
	}
}

// NewBucket sets a new limit's bucket full as of now.
func (l *Limit) NewBucket(now time.Time) {
	l.Tokens = l.Burst
	l.RefilledAt = now
}

// EarliestWait folds into next (zero: none yet) the time the attempts of
// an empty bucket become claimable: the later of their earliest due time
// (zero: none queued) and the bucket's refill.
func EarliestWait(next, due, refill time.Time) time.Time {
	if due.IsZero() {
		return next
	}
	at := due
	if refill.After(at) {
		at = refill
	}
	if next.IsZero() || at.Before(next) {
		return at
	}
	return next
}
