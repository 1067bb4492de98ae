package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/legatohq/legato/sdk/client"
)

// env is the server under test and how to reach it.
type env struct {
	cfg     *config
	dir     string
	bin     string
	dataDir string
	addr    string
	// dsn is the server's database (PostgreSQL: one created for the run).
	dsn    string
	dropDB func()

	cmd    *exec.Cmd
	exited chan struct{}
	api    *client.Client
}

// build compiles ./cmd/legato into dir.
func build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "legato")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/legato")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/legato (run from the repository root): %w\n%s", err, out)
	}
	return bin, nil
}

func newEnv(ctx context.Context, c *config, dir, bin string) (*env, error) {
	e := &env{cfg: c, dir: dir, bin: bin, dataDir: filepath.Join(dir, "data")}
	if c.store == "postgres" {
		dsn, drop, err := createDatabase(ctx, c.dsn)
		if err != nil {
			return nil, err
		}
		e.dsn, e.dropDB = dsn, drop
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.addr = l.Addr().String()
	_ = l.Close()
	if err := e.start(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// createDatabase makes a fresh database next to the one dsn names and
// returns its DSN and a function that drops it.
func createDatabase(ctx context.Context, dsn string) (string, func(), error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("legato_bench_%d", time.Now().UnixNano())
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", nil, fmt.Errorf("connect %s: %w", cfg.Host, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.ConnectConfig(ctx, cfg); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			_ = conn.Close(ctx)
		}
	}
	u := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s:%d/%s", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		u = fmt.Sprintf("host=%s port=%d user=%s dbname=%s", cfg.Host, cfg.Port, cfg.User, name)
	} else {
		u += "?sslmode=disable"
	}
	return u, drop, nil
}

// start starts the server and waits until it answers.
func (e *env) start(ctx context.Context) error {
	args := []string{"server", "--data", e.dataDir, "--addr", e.addr, "--log-level", "warn"}
	if e.cfg.workers > 0 {
		args = append(args, "--workers", strconv.Itoa(e.cfg.workers))
	}
	if e.cfg.store == "postgres" {
		args = append(args, "--store", "postgres", "--dsn", e.dsn)
	}
	logf, err := os.OpenFile(filepath.Join(e.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	exited := e.exited
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + e.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited; see %s", filepath.Join(e.dir, "server.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the server did not answer /readyz within 30s")
		}
	}
	token, err := os.ReadFile(filepath.Join(e.dataDir, "admin.token"))
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	e.api = client.New(e.addr, strings.TrimSpace(string(token)), client.WithHTTPClient(hc))
	return nil
}

// kill stops the server with SIGKILL.
func (e *env) kill() {
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
}

// rss returns the server's resident memory in bytes.
func (e *env) rss() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(e.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func (e *env) close() {
	if e.cmd != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(15 * time.Second):
			e.kill()
		}
	}
	if e.dropDB != nil {
		e.dropDB()
	}
}
