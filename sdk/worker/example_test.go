package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/legatohq/legato/internal/api/apitest"
	"github.com/legatohq/legato/sdk/client"
	"github.com/legatohq/legato/sdk/worker"
)

// A workflow with a custom task type, run by a worker in this program.
func Example() {
	// A stand-in for "legato server": in real use the address is
	// http://127.0.0.1:8420 and the token is in .legato/admin.token.
	srv := exampleServer()
	defer srv.Close()
	ctx := context.Background()
	c := client.New(srv.URL, srv.Token)

	w := worker.New(c, worker.Options{ID: "crm-worker-1", Concurrency: 4, Logger: slog.New(slog.DiscardHandler)})
	w.Handle("crm.create_contact", func(ctx context.Context, t *worker.Task) (any, error) {
		var p struct {
			Email string `json:"email"`
		}
		if err := t.Decode(&p); err != nil {
			return nil, err // bad params: not retried
		}
		if p.Email == "" {
			return nil, worker.NonRetryable(errors.New("an email is required"))
		}
		t.Logf("creating contact %s (key %s)", p.Email, t.IdempotencyKey)
		return map[string]any{"id": "C-1", "email": p.Email}, nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()

	_, _, err := c.Apply(ctx, "signup.yaml", []byte(`name: signup
inputs:
  email: {type: string, required: true}
tasks:
  - id: contact
    type: crm.create_contact
    with: {email: "${{ inputs.email }}"}
    retry: {attempts: 3}
outputs:
  contact_id: "${{ tasks.contact.output.id }}"
`))
	if err != nil {
		log.Fatal(err)
	}
	run, err := c.StartRun(ctx, client.StartRunRequest{Workflow: "signup", Inputs: map[string]any{"email": "ada@example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	final, err := c.Wait(ctx, run.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("run", final.Status)
	fmt.Println("contact", final.Outputs.(map[string]any)["contact_id"])

	stop() // interrupts the attempts still running, then returns
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// run succeeded
	// contact C-1
}

func ExampleNonRetryable() {
	lookup := func(id string) error {
		// The CRM answered 404: another attempt would get the same.
		return worker.NonRetryable(fmt.Errorf("contact %s not found", id))
	}
	err := fmt.Errorf("add note: %w", lookup("C-9"))
	fmt.Println(err)
	fmt.Println("retry:", !worker.IsNonRetryable(err))
	// Output:
	// add note: contact C-9 not found
	// retry: false
}

// exampleServer starts a real server in this process for the examples.
func exampleServer() *exampleSrv {
	dir, err := os.MkdirTemp("", "legato-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := apitest.Start(apitest.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	return &exampleSrv{Server: srv, dir: dir}
}

type exampleSrv struct {
	*apitest.Server
	dir string
}

func (s *exampleSrv) Close() {
	_ = s.Server.Close()
	_ = os.RemoveAll(s.dir)
}
