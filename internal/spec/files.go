package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IsWorkflowFile reports whether a file name has a workflow file extension
// (.yaml, .yml or .json).
func IsWorkflowFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// FindFiles expands paths into workflow files: a file is taken as is, a
// directory gives its workflow files, recursively, in lexical order.
func FindFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("workflow files: %w", err)
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && IsWorkflowFile(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("workflow files: %w", err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
