package tasks

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// killGrace is how long a cancelled command's process group has between
// SIGTERM and SIGKILL.
var killGrace = 5 * time.Second

// processGroup is a command started as the leader of its own process group,
// so that cancelling it reaches every process it started.
type processGroup struct {
	cmd        *exec.Cmd
	terminated chan struct{} // closed when SIGTERM was sent
}

// inGroup sets cmd up to run in a new process group that receives SIGTERM
// when cmd's context is done, and SIGKILL killGrace later.
func inGroup(cmd *exec.Cmd) *processGroup {
	g := &processGroup{cmd: cmd, terminated: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		close(g.terminated)
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	// Wait kills the leader and closes the pipes this long after the
	// context is done or the leader exited, even if children hold them.
	cmd.WaitDelay = killGrace
	return g
}

// cleanup runs after Wait: what is left of the group is killed. A cancelled
// group first gets what remains of its grace to exit on SIGTERM.
func (g *processGroup) cleanup(cancelled bool) {
	pgid := g.cmd.Process.Pid
	if cancelled {
		select {
		case <-g.terminated:
			deadline := time.Now().Add(killGrace)
			for time.Now().Before(deadline) && groupAlive(pgid) {
				time.Sleep(20 * time.Millisecond)
			}
		default:
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// lineWriter receives a command's stdout or stderr: it keeps the first
// outputCap bytes and logs each line as it arrives.
type lineWriter struct {
	name      string
	log       LogFunc
	buf       bytes.Buffer // kept output
	truncated bool
	partial   []byte // an unfinished line
}

func newLineWriter(name string, log LogFunc) *lineWriter {
	return &lineWriter{name: name, log: log}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	room := outputCap - w.buf.Len()
	if len(p) > room {
		w.buf.Write(p[:room])
		w.truncated = true
	} else {
		w.buf.Write(p)
	}
	data := p
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			w.partial = append(w.partial, data...)
			if len(w.partial) >= maxLogLine {
				w.flush()
			}
			break
		}
		w.partial = append(w.partial, data[:i]...)
		w.emit()
		data = data[i+1:]
	}
	return len(p), nil
}

// flush logs the unfinished line, if any.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.emit()
	}
}

func (w *lineWriter) emit() {
	w.log(w.name, strings.TrimSuffix(string(w.partial), "\r"))
	w.partial = w.partial[:0]
}

// text is the kept output without one trailing newline.
func (w *lineWriter) text() string {
	s := w.buf.String()
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		return strings.TrimSuffix(t, "\r")
	}
	return s
}

// maxLogLine bounds one logged line; longer lines are logged in pieces.
const maxLogLine = 64 << 10
