package spec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/bad")

// TestBadFiles parses every file of testdata/bad and compares the errors
// with the file's .golden twin (go test ./internal/spec -update rewrites
// them).
func TestBadFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/bad/*")
	require.NoError(t, err)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			w, err := Parse(filepath.Base(f), src)
			require.Error(t, err, "the file parsed")
			require.Nil(t, w)
			var list ErrorList
			require.ErrorAs(t, err, &list)
			for _, e := range list {
				require.NotZero(t, e.Pos.Line, "every error of a file has a position: %s", e)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./internal/spec -update to create it")
			require.Equal(t, string(want), got)
		})
	}
	require.GreaterOrEqual(t, n, 20)
}
