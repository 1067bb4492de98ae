package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/legatohq/legato/sdk/client"
)

func ExampleClient_StartRun() {
	// A stand-in for "legato server": in real use the address is
	// http://127.0.0.1:8420 and the token is in .legato/admin.token.
	srv := newFakeServer()
	defer srv.Close()

	ctx := context.Background()
	c := client.New(srv.URL, fakeToken)

	v, created, err := c.Apply(ctx, "orders.yaml", []byte(`name: order-fulfillment
namespace: sales
tasks:
  - id: reserve
    type: noop
  - id: invoice
    needs: [reserve]
    type: noop
`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("applied %s/%s v%d (created: %t)\n", v.Namespace, v.Name, v.Version, created)

	run, err := c.StartRun(ctx, client.StartRunRequest{
		Namespace: "sales",
		Workflow:  "order-fulfillment",
		Inputs:    map[string]any{"order_id": "A-1", "amount": 120},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started", run.ID, run.Status)

	final, err := c.Wait(ctx, run.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range final.Tasks {
		fmt.Println(t.Name(), t.Status)
	}
	fmt.Println("run", final.Status)
	// Output:
	// applied sales/order-fulfillment v1 (created: true)
	// started run-1 queued
	// reserve succeeded
	// invoice succeeded
	// run succeeded
}
