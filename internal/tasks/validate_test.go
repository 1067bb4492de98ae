package tasks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type validateCase struct {
	name string
	with map[string]any
	errs []string // each a substring of one error, in order
}

func checkCases(t *testing.T, typ string, cases []validateCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(typ+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			errs := Check(typ, c.with)
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.Error()
			}
			require.Len(t, errs, len(c.errs), strings.Join(msgs, "\n"))
			for i, want := range c.errs {
				require.Contains(t, msgs[i], want)
			}
		})
	}
}

const tpl = "${{ inputs.x }}"

func TestValidateShell(t *testing.T) {
	t.Parallel()
	checkCases(t, "shell", []validateCase{
		{"run", map[string]any{"run": "echo hi"}, nil},
		{"argv", map[string]any{"argv": []any{"ls", "-l"}, "env": map[string]any{"A": "b", "N": 1.0}, "dir": "/tmp", "output": "json", "stdin": "x"}, nil},
		{"templates", map[string]any{"run": tpl, "env": tpl, "output": tpl, "stdin": tpl}, nil},
		{"template argv", map[string]any{"argv": tpl}, nil},
		{"neither", map[string]any{}, []string{"with: one of run or argv is required"}},
		{"both", map[string]any{"run": "x", "argv": []any{"x"}}, []string{"with.argv: set either run or argv, not both"}},
		{"unknown", map[string]any{"run": "x", "cmd": "y"}, []string{`with.cmd: unknown field "cmd"; valid: argv, dir, env, output, run, shell, stdin`}},
		{"types", map[string]any{"run": 1.0, "env": map[string]any{"A": []any{}}, "output": "yaml"}, []string{
			"with.env.A: must be a string, number or boolean", "with.output: must be one of text, json", "with.run: must be a string"}},
		{"argv items", map[string]any{"argv": []any{"ls", 2.0}}, []string{"with.argv[1]: must be a string"}},
		{"empty argv", map[string]any{"argv": []any{}}, []string{"with.argv: must name at least the program"}},
		{"shell with argv", map[string]any{"argv": []any{"ls"}, "shell": "bash"}, []string{"with.shell: shell applies to run"}},
	})
}

func TestValidateHTTP(t *testing.T) {
	t.Parallel()
	checkCases(t, "http", []validateCase{
		{"get", map[string]any{"url": "https://example.com/x"}, nil},
		{"full", map[string]any{
			"method": "POST", "url": "http://h:8080/", "headers": map[string]any{"A": "b"}, "query": map[string]any{"q": []any{"a", 1.0}},
			"json": []any{1.0}, "expect": []any{200.0, "4xx", "500-502"}, "timeout": "5s", "insecure_skip_verify": true, "follow_redirects": false,
		}, nil},
		{"template url", map[string]any{"url": tpl + "/reserve", "json": map[string]any{"order": tpl}}, nil},
		{"missing url", map[string]any{}, []string{"with.url: required"}},
		{"bad url", map[string]any{"url": "ftp://x"}, []string{"with.url: must be an absolute http"}},
		{"relative url", map[string]any{"url": "/x"}, []string{"with.url: must be an absolute"}},
		{"json and body", map[string]any{"url": "http://x", "json": 1.0, "body": "b"}, []string{"with.body: set either json or body, not both"}},
		{"bad expect", map[string]any{"url": "http://x", "expect": []any{"2yy"}}, []string{"with.expect: must be statuses"}},
		{"bad method", map[string]any{"url": "http://x", "method": "GE T"}, []string{"with.method: must be an HTTP method"}},
		{"bad types", map[string]any{"url": "http://x", "insecure_skip_verify": "yes", "timeout": 5.0, "headers": []any{}}, []string{
			"with.headers: must be a map", "with.insecure_skip_verify: must be true or false", "with.timeout: must be a duration"}},
		{"unknown", map[string]any{"url": "http://x", "data": 1.0}, []string{`unknown field "data"; valid: body, expect, follow_redirects, headers, insecure_skip_verify, json, method, query, timeout, url`}},
	})
}

func TestValidateNoop(t *testing.T) {
	t.Parallel()
	checkCases(t, "noop", []validateCase{
		{"empty", nil, nil},
		{"echo anything", map[string]any{"anything": []any{1.0}}, nil},
		{"controls", map[string]any{"fail": "x", "fail_attempts": int64(2), "delay": "10ms"}, nil},
		{"bad controls", map[string]any{"fail": true, "fail_attempts": -1.0, "delay": "soon"}, []string{
			"with.delay: invalid duration", "with.fail: must be a string", "with.fail_attempts: must be a non-negative whole number"}},
		{"fractional", map[string]any{"fail_attempts": 1.5}, []string{"with.fail_attempts"}},
	})
}

func TestValidateSleep(t *testing.T) {
	t.Parallel()
	checkCases(t, "sleep", []validateCase{
		{"duration", map[string]any{"duration": "1d2h"}, nil},
		{"seconds", map[string]any{"duration": 30.0}, nil},
		{"until", map[string]any{"until": "2030-01-02T15:04:05Z"}, nil},
		{"until template", map[string]any{"until": tpl}, nil},
		{"neither", map[string]any{}, []string{"one of duration or until is required"}},
		{"both", map[string]any{"duration": "1s", "until": "2030-01-02T15:04:05Z"}, []string{"not both"}},
		{"bad until", map[string]any{"until": "tomorrow"}, []string{"with.until: \"tomorrow\" is not an RFC 3339"}},
		{"bad duration", map[string]any{"duration": -1.0}, []string{"with.duration: must not be negative"}},
		{"unknown", map[string]any{"duration": "1s", "for": "x"}, []string{`unknown field "for"; valid: duration, until`}},
	})
}

func TestValidateWaitEvent(t *testing.T) {
	t.Parallel()
	checkCases(t, "wait_event", []validateCase{
		{"full", map[string]any{"type": "payment.received", "match": "event.data.id == inputs.id", "timeout": "1h", "look_back": "10m", "on_timeout": "succeed"}, nil},
		{"minimal", map[string]any{"type": "x"}, nil},
		{"missing", map[string]any{"match": "true"}, []string{"with.type: required"}},
		{"bad", map[string]any{"type": "x", "timeout": "soon", "on_timeout": "retry"}, []string{
			"with.on_timeout: must be one of fail, succeed", "with.timeout:"}},
	})
}

func TestValidateWorkflow(t *testing.T) {
	t.Parallel()
	checkCases(t, "workflow", []validateCase{
		{"full", map[string]any{"workflow": "child", "namespace": "ns", "inputs": map[string]any{"a": 1.0}, "wait": false}, nil},
		{"template", map[string]any{"workflow": tpl, "inputs": tpl}, nil},
		{"missing", map[string]any{"inputs": map[string]any{}}, []string{"with.workflow: required"}},
		{"types", map[string]any{"workflow": "", "inputs": []any{}, "wait": "no"}, []string{
			"with.inputs: must be a map", "with.wait: must be true or false", "with.workflow: must not be empty"}},
		{"unknown", map[string]any{"workflow": "c", "input": 1.0}, []string{`unknown field "input"; valid: inputs, namespace, wait, workflow`}},
	})
}
