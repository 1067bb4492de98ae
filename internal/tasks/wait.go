package tasks

import "time"

// The sleep, workflow and wait_event types are durable waits that the
// engine handles itself (a timer row, a child run, an event wait row): they
// register only their validation, and no worker ever runs them.
func init() {
	Register(Type{Name: "sleep", Validate: validateSleep})
	Register(Type{Name: "workflow", Validate: validateWorkflow})
	Register(Type{Name: "wait_event", Validate: validateWaitEvent})
}

// wait_event: type is the event type to wait for; match a bare CEL
// condition over event (and inputs, tasks, run, item) that the spec
// package type-checks; timeout and on_timeout what happens when nothing
// matches in time; look_back how long before the wait an event may have
// arrived and still count.
var waitEventSchema = schema{
	"type":       isNonEmptyString,
	"match":      isNonEmptyString,
	"timeout":    isDuration,
	"look_back":  isDuration,
	"on_timeout": oneOf("fail", "succeed"),
}

func validateWaitEvent(with map[string]any) []error {
	return waitEventSchema.check(with, "type")
}

var sleepSchema = schema{
	"duration": isSleepDuration,
	"until":    isTimestamp,
}

func validateSleep(with map[string]any) []error {
	return append(sleepSchema.check(with), exclusive(with, true, "duration", "until")...)
}

// isSleepDuration accepts a duration string ("90s", "1d") or a number of
// seconds.
func isSleepDuration(v any) []error {
	if f, ok := asFloat(v); ok {
		if f < 0 {
			return errf("must not be negative")
		}
		return nil
	}
	return isDuration(v)
}

func isTimestamp(v any) []error {
	s, ok := v.(string)
	if !ok {
		return errf("must be an RFC 3339 timestamp string, not %s", typeName(v))
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return errf("%q is not an RFC 3339 timestamp such as 2030-01-02T15:04:05Z", s)
	}
	return nil
}

var workflowSchema = schema{
	"workflow":  isNonEmptyString,
	"namespace": isString,
	"inputs":    isMap,
	"wait":      isBool,
}

func validateWorkflow(with map[string]any) []error {
	return workflowSchema.check(with, "workflow")
}

func isMap(v any) []error {
	if _, ok := v.(map[string]any); !ok {
		return errf("must be a map, not %s", typeName(v))
	}
	return nil
}
