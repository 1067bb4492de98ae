package store

import "strconv"

// IdempotencyKey is the stable key of a task run, the same across its
// attempts: "<run>/<task>" or "<run>/<task>/<index>"; the index is left out when the task run is not a for_each item.
func IdempotencyKey(runID, task string, index int) string {
	if index < 0 {
		return runID + "/" + task
	}
	return runID + "/" + task + "/" + strconv.Itoa(index)
}
