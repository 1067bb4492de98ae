package spec

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			if filepath.Ext(file) == ".golden" {
				continue
			}
			src, err := os.ReadFile(file)
			if err == nil {
				f.Add(src)
			}
		}
	}
	f.Add([]byte("a: &x [*x]"))
	f.Add([]byte("name: x\ntasks:\n  - {id: a, type: noop, with: {a: &v [1, 2], b: *v}}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		w, err := Parse("fuzz.yaml", src)
		if err == nil && w == nil {
			t.Fatal("no workflow and no error")
		}
		if err == nil {
			if errs := Validate(w); len(errs) > 0 {
				t.Fatalf("a parsed workflow does not validate again: %v", errs)
			}
		}
	})
}
