package spec_test

import (
	"fmt"

	"github.com/legatohq/legato/internal/spec"
)

func ExampleParse() {
	src := []byte(`name: hello
tasks:
  - id: greet
    type: noop
  - id: done
    type: noop
    neds: [greet]
    when: tasks.greet.status == "succeeded"
`)
	_, err := spec.Parse("hello.yaml", src)
	fmt.Println(err)
	// Output:
	// hello.yaml:7:5: unknown field "neds" in task; did you mean "needs"?
	// hello.yaml:8:11: task "done" reads tasks.greet but does not need it; add "greet" to its needs
}
