package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// The shell type runs a command: `run` through /bin/sh -c (or `shell`), or
// `argv` exec'd directly. The server's environment is not inherited: the
// command sees only PATH, HOME, LANG and TMPDIR from it, then `env`, then
// the LEGATO_* variables of the attempt.
func init() {
	Register(Type{Name: "shell", Validate: validateShell, Executor: ExecutorFunc(executeShell)})
}

// outputCap bounds the stdout and stderr kept in a shell task's output and
// the body kept from an http answer.
const outputCap = 1 << 20

// inheritedEnv are the only variables of the server passed to commands.
var inheritedEnv = []string{"PATH", "HOME", "LANG", "TMPDIR"}

var shellSchema = schema{
	"run":    isNonEmptyString,
	"argv":   isArgv,
	"env":    isScalarMap,
	"dir":    isNonEmptyString,
	"shell":  isNonEmptyString,
	"output": oneOf("text", "json"),
	"stdin":  isString,
}

func validateShell(with map[string]any) []error {
	errs := shellSchema.check(with)
	errs = append(errs, exclusive(with, true, "run", "argv")...)
	if _, ok := with["shell"]; ok {
		if _, ok := with["argv"]; ok {
			errs = append(errs, fieldErr("shell applies to run, not to argv", "shell"))
		}
	}
	return errs
}

func isArgv(v any) []error {
	if errs := isStringList(v); errs != nil {
		return errs
	}
	if len(v.([]any)) == 0 {
		return errf("must name at least the program")
	}
	return nil
}

func executeShell(ctx context.Context, req *Request) (any, error) {
	p := req.Params
	if err := validateParams(validateShell, p); err != nil {
		return nil, err
	}
	env := shellEnv(req)
	var argv []string
	if run, ok := p["run"].(string); ok {
		interp := []string{"/bin/sh"}
		if s := getString(p, "shell"); s != "" {
			interp = strings.Fields(s)
		}
		argv = append(interp, "-c", run)
	} else {
		argv = getStringList(p, "argv")
	}
	prog, err := lookPath(argv[0], env)
	if err != nil {
		return nil, NonRetryable(err)
	}
	cmd := exec.CommandContext(ctx, prog, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = env
	cmd.Dir = getString(p, "dir")
	if s, ok := p["stdin"].(string); ok {
		cmd.Stdin = strings.NewReader(s)
	}
	group := inGroup(cmd)

	log := serialLog(req.Log)
	stdout, stderr := newLineWriter("stdout", log), newLineWriter("stderr", log)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, NonRetryable(fmt.Errorf("start %s: %w", argv[0], err))
	}
	// Wait returns once the leader exited and the output was copied, or
	// killGrace later when children hold the pipes.
	waitErr := cmd.Wait()
	stdout.flush()
	stderr.flush()
	group.cleanup(ctx.Err() != nil)

	out := map[string]any{
		"stdout":    stdout.text(),
		"stderr":    stderr.text(),
		"exit_code": cmd.ProcessState.ExitCode(),
	}
	for _, w := range []*lineWriter{stdout, stderr} {
		if w.truncated {
			log("system", fmt.Sprintf("%s was longer than %d bytes: the output keeps its beginning", w.name, outputCap))
		}
	}
	if ctx.Err() != nil {
		return out, canceled(ctx)
	}
	if waitErr != nil {
		var exitErr *exec.ExitError
		if errors.As(waitErr, &exitErr) {
			return out, errors.New(exitErr.Error())
		}
		if !errors.Is(waitErr, exec.ErrWaitDelay) {
			return out, waitErr
		}
	}
	if getString(p, "output") == "json" {
		var v any
		if err := json.Unmarshal(bytes.TrimSpace(stdout.buf.Bytes()), &v); err != nil {
			if stdout.truncated {
				err = fmt.Errorf("stdout is longer than %d bytes", outputCap)
			}
			return out, NonRetryable(fmt.Errorf("output: json: stdout is not JSON: %w", err))
		}
		out["json"] = v
	}
	return out, nil
}

// shellEnv builds a command's environment.
func shellEnv(req *Request) []string {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			set(k, v)
		}
	}
	user := getStringMap(req.Params, "env")
	for _, k := range sortedKeys(user) {
		set(k, user[k])
	}
	set("LEGATO_IDEMPOTENCY_KEY", req.IdempotencyKey)
	set("LEGATO_RUN_ID", req.RunID)
	set("LEGATO_TASK_ID", req.TaskID)
	set("LEGATO_ATTEMPT", strconv.Itoa(req.Attempt))
	set("LEGATO_INDEX", strconv.Itoa(req.Index))
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// lookPath finds prog on the PATH of the command's own environment, which
// may differ from the server's.
func lookPath(prog string, env []string) (string, error) {
	if strings.Contains(prog, "/") {
		return prog, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		f := dir + "/" + prog
		if st, err := os.Stat(f); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return f, nil
		}
	}
	return "", fmt.Errorf("%q not found in PATH %q", prog, path)
}

// serialLog makes log safe to call from the stdout and stderr readers at
// once, keeping each stream's order; a nil log discards.
func serialLog(log LogFunc) LogFunc {
	if log == nil {
		return func(string, string) {}
	}
	var mu sync.Mutex
	return func(stream, line string) {
		mu.Lock()
		defer mu.Unlock()
		log(stream, line)
	}
}
