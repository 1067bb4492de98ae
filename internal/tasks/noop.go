package tasks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"
)

// The noop type does nothing and echoes its parameters as its output. Its
// control fields make it a stand-in for a real task in examples and tests:
//
//	fail: "message"     fail every attempt with this message
//	fail_attempts: N    fail only the first N attempts, then succeed
//	delay: "100ms"      take this long, honouring cancellation
//
// Unlike the other types, noop accepts any other field: they are the data it
// echoes.
func init() {
	Register(Type{Name: "noop", Validate: validateNoop, Executor: ExecutorFunc(executeNoop)})
}

var noopControl = schema{
	"fail":          isString,
	"fail_attempts": isNonNegativeInt,
	"delay":         isDuration,
}

func validateNoop(with map[string]any) []error {
	known := map[string]any{}
	for k := range noopControl {
		if v, ok := with[k]; ok {
			known[k] = v
		}
	}
	return noopControl.check(known)
}

func executeNoop(ctx context.Context, req *Request) (any, error) {
	p := req.Params
	if err := validateParams(validateNoop, p); err != nil {
		return nil, err
	}
	if d := getDuration(p, "delay"); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, canceled(ctx)
		case <-t.C:
		}
	} else if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	out := map[string]any{}
	maps.Copy(out, p)
	msg, hasFail := p["fail"].(string)
	n, hasN := asInt(p["fail_attempts"])
	switch {
	case hasN && int64(req.Attempt) <= n:
		if !hasFail {
			msg = fmt.Sprintf("noop: failing attempt %d of the first %d", req.Attempt, n)
		}
		return out, errors.New(msg)
	case hasFail && !hasN:
		return out, errors.New(msg)
	}
	return out, nil
}
