package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// brokenWorkflow has three problems: an unknown field (line 7, col 5), an
// undeclared input in a template (line 9) and an unknown need (line 11).
const brokenWorkflow = `name: e2e-broken
tasks:
  - id: a
    type: shell
    with: {run: "echo hi"}
  - id: b
    neds: [a]
    type: shell
    with: {run: "echo ${{ inputs.nope }}"}
  - id: c
    needs: [zzz]
    type: noop
`

const goodWorkflow = `name: e2e-good
tasks:
  - id: only
    type: noop
`

// TestServerRejectsBadFiles checks that a broken workflow file is refused
// everywhere with file:line:col positions, and that refusing it changes
// nothing on the server.
func TestServerRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(brokenWorkflow), 0o644))
	both := filepath.Join(dir, "both")
	require.NoError(t, os.Mkdir(both, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(both, "a-good.yaml"), []byte(goodWorkflow), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(both, "b-broken.yaml"), []byte(brokenWorkflow), 0o644))

	// validate: no server needed; exit 1, every problem as file:line:col.
	res := runCLI(t, time.Minute, "validate", bad)
	require.Equal(t, 1, res.code, "%s", res)
	pos := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(bad) + `:(\d+):(\d+): .+$`)
	lines := pos.FindAllString(res.stderr, -1)
	require.GreaterOrEqual(t, len(lines), 3, "want the three problems as file:line:col lines\n%s", res)
	require.Contains(t, res.stderr, bad+":7:5: ", "the unknown field is placed at its key\n%s", res)
	require.Contains(t, res.stderr, `"neds"`, "%s", res)
	require.Regexp(t, regexp.QuoteMeta(bad)+`:9:\d+: .*nope`, res.stderr)
	require.Regexp(t, regexp.QuoteMeta(bad)+`:11:\d+: .*zzz`, res.stderr)
	require.NotContains(t, res.stdout, "ok "+bad)

	s := startServer(t, filepath.Join(repoRoot, "examples"))
	before := s.snapshot()
	require.NotEmpty(t, before.workflows, "the examples are applied")

	// apply of the broken file: refused, with positions.
	res = s.cli("apply", "-f", bad)
	require.Equal(t, 1, res.code, "%s", res)
	require.Contains(t, res.stderr, bad+":7:5: ", "%s", res)
	require.Equal(t, before, s.snapshot(), "a refused apply changes nothing")

	// apply of a directory with a good and a broken file: nothing is sent.
	res = s.cli("apply", "-f", both)
	require.Equal(t, 1, res.code, "%s", res)
	require.Contains(t, res.stderr, "b-broken.yaml:7:5: ", "%s", res)
	require.Equal(t, before, s.snapshot(), "apply sends nothing when any file is invalid")

	// The server refuses it too, without the CLI's local check.
	var apiErr struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details struct {
				Errors []struct {
					File    string `json:"file"`
					Line    int    `json:"line"`
					Col     int    `json:"col"`
					Message string `json:"message"`
				} `json:"errors"`
			} `json:"details"`
		} `json:"error"`
	}
	code, raw := s.api("POST", "/api/v1/workflows", map[string]string{"source": brokenWorkflow, "file": "broken.yaml"}, nil)
	require.Equal(t, http.StatusUnprocessableEntity, code, "%s", raw)
	require.NoError(t, json.Unmarshal(raw, &apiErr), "%s", raw)
	require.Equal(t, "invalid_workflow", apiErr.Error.Code, "%s", raw)
	require.GreaterOrEqual(t, len(apiErr.Error.Details.Errors), 3, "%s", raw)
	first := apiErr.Error.Details.Errors[0]
	require.Equal(t, "broken.yaml", first.File, "%s", raw)
	require.Equal(t, 7, first.Line, "%s", raw)
	require.Equal(t, 5, first.Col, "%s", raw)
	require.Equal(t, before, s.snapshot(), "a refused POST changes nothing")

	// Running the refused workflow finds nothing.
	res = s.cli("run", "e2e-broken")
	require.Equal(t, 1, res.code, "%s", res)
	require.Contains(t, res.stderr, "not_found", "%s", res)
	require.Equal(t, before, s.snapshot())

	// The good file alone still applies, so the refusals above were about
	// the broken file only.
	res = s.cli("apply", "-f", filepath.Join(both, "a-good.yaml"))
	require.Equal(t, 0, res.code, "%s", res)
	require.Contains(t, res.stdout, "created default/e2e-good v1", "%s", res)
}

// serverState is what the refusals must leave as it was.
type serverState struct {
	workflows []string // namespace/name vN hash, in the API's order
	runs      string   // `legato runs list -o json`
}

func (s *server) snapshot() serverState {
	s.t.Helper()
	var wfs struct {
		Workflows []struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
			Version   int    `json:"version"`
			Hash      string `json:"hash"`
		} `json:"workflows"`
	}
	code, raw := s.api("GET", "/api/v1/workflows?namespace=default", nil, &wfs)
	require.Equal(s.t, http.StatusOK, code, "%s", raw)
	var st serverState
	for _, w := range wfs.Workflows {
		st.workflows = append(st.workflows, strings.Join([]string{w.Namespace, w.Name, "v" + strconv.Itoa(w.Version), w.Hash}, " "))
	}
	res := s.cli("runs", "list", "-o", "json")
	require.Equal(s.t, 0, res.code, "%s", res)
	st.runs = res.stdout
	return st
}
