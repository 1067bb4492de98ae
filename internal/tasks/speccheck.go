package tasks

import (
	"errors"

	"github.com/legatohq/legato/internal/spec"
)

// The spec package checks every task's `with` block with the registered
// task types, so a workflow file is refused before anything runs.
func init() {
	spec.SetTypeChecker(checkForSpec)
}

// checkForSpec is Check with this package's FieldErrors turned into the
// spec package's, which it places at a file position.
func checkForSpec(taskType string, with map[string]any) []error {
	errs := Check(taskType, with)
	for i, err := range errs {
		var fe *FieldError
		if errors.As(err, &fe) {
			errs[i] = &spec.FieldError{Path: fe.Path, Msg: fe.Msg}
		}
	}
	return errs
}
