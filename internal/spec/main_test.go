package spec

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// knownTypes is the fake task-type registry the tests install, standing in
// for the tasks package.
var knownTypes = []string{"approval", "http", "noop", "shell", "sleep", "wait_event", "workflow"}

func fakeChecker(typ string, with map[string]any) []error {
	if !slices.Contains(knownTypes, typ) {
		return []error{fmt.Errorf("unknown task type %q; known types: approval, http, noop, shell, sleep, workflow", typ)}
	}
	var errs []error
	switch typ {
	case "shell":
		if _, ok := with["run"].(string); !ok {
			errs = append(errs, &FieldError{Msg: "shell needs with.run, the command to run"})
		}
	case "http":
		if _, ok := with["url"].(string); !ok {
			errs = append(errs, &FieldError{Path: []string{"url"}, Msg: "url must be a string"})
		}
	}
	return errs
}

func TestMain(m *testing.M) {
	SetTypeChecker(fakeChecker)
	os.Exit(m.Run())
}
