package spec

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/legatohq/legato/internal/cron"
)

var (
	namePattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	idPattern    = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]*$`)
	inputPattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	eventPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)
)

// InputTypes are the types an input may declare.
var InputTypes = []string{"string", "number", "integer", "boolean", "object", "array", "any"}

// validator checks a decoded workflow. places maps paths to positions;
// without it (a workflow from the API) messages name their place instead.
type validator struct {
	w      *Workflow
	places map[string]place
	file   string
	errs   ErrorList
	index  map[string]int // task id -> first index
	// badTriggers are the triggers whose kind is unclear; their expressions
	// are not checked.
	badTriggers map[int]bool
}

func validate(w *Workflow, places map[string]place, file string) ErrorList {
	v := &validator{w: w, places: places, file: file, index: map[string]int{}, badTriggers: map[int]bool{}}
	v.workflow()
	v.inputs()
	v.triggers()
	v.tasks()
	v.graph()
	v.expressions()
	v.alerts()
	return v.errs
}

// lookup finds the place of p or of its closest recorded parent.
func (v *validator) lookup(p path) (place, bool) {
	for n := len(p); n >= 0; n-- {
		if pl, ok := v.places[p[:n].key()]; ok {
			return pl, n == len(p)
		}
	}
	return place{}, false
}

func (v *validator) at(p path, key bool) Pos {
	if v.places == nil {
		return Pos{File: v.file}
	}
	pl, _ := v.lookup(p)
	if key {
		return pl.key
	}
	return pl.val
}

// atOffset is the position of byte off inside the string at p, when it can
// be told; otherwise the string's position.
func (v *validator) atOffset(p path, off int) Pos {
	if v.places == nil {
		return Pos{File: v.file}
	}
	pl, exact := v.lookup(p)
	pos := pl.val
	if b := pl.block; exact && b != nil && off >= 0 && off <= len(b.text) {
		before := b.text[:off]
		line := strings.Count(before, "\n")
		col := off - (strings.LastIndexByte(before, '\n') + 1)
		return Pos{File: pos.File, Line: b.line + line, Col: b.indent + 1 + col}
	}
	if !exact || pl.multiline || off < 0 || pos.Line == 0 {
		return pos
	}
	if pl.quoted {
		pos.Col++
	}
	pos.Col += off
	return pos
}

// errorf reports a problem with the value at p (or its key when key).
func (v *validator) errorf(p path, key bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.places == nil && len(p) > 0 {
		msg = label(p) + ": " + msg
	}
	v.errs = append(v.errs, &Error{Pos: v.at(p, key), Msg: msg})
}

// label writes p for messages without positions: tasks[2].needs[0].
func label(p path) string {
	var b strings.Builder
	for i, e := range p {
		if _, err := strconv.Atoi(e); err == nil {
			fmt.Fprintf(&b, "[%s]", e)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e)
	}
	return b.String()
}

// present reports whether the file had a value at p (so a "missing" error
// would repeat one the decoder gave).
func (v *validator) present(p path) bool {
	_, ok := v.places[p.key()]
	return ok
}

func (v *validator) workflow() {
	w := v.w
	switch {
	case w.Name == "" && !v.present(path{"name"}):
		v.errorf(nil, false, "missing required field \"name\"")
	case w.Name != "" && !namePattern.MatchString(w.Name):
		v.errorf(path{"name"}, false, "invalid name %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", w.Name)
	}
	if w.Namespace == "" && !v.present(path{"namespace"}) {
		w.Namespace = DefaultNamespace
	} else if !namePattern.MatchString(w.Namespace) {
		v.errorf(path{"namespace"}, false, "invalid namespace %q: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", w.Namespace)
	}
	if w.Timeout < 0 {
		v.errorf(path{"timeout"}, false, "timeout must not be negative")
	}
	if c := w.Concurrency; c != nil && c.Limit < 1 && (v.places == nil || v.present(path{"concurrency"})) {
		v.errorf(path{"concurrency"}, false, "concurrency limit must be at least 1, got %d", c.Limit)
	}
	if len(w.Tasks) == 0 && !v.present(path{"tasks"}) {
		v.errorf(nil, false, "missing required field \"tasks\": a workflow needs at least one task")
	} else if len(w.Tasks) == 0 {
		v.errorf(path{"tasks"}, false, "a workflow needs at least one task")
	}
}

func (v *validator) inputs() {
	seen := map[string]bool{}
	for i := range v.w.Inputs {
		in := &v.w.Inputs[i]
		p := path{"inputs", in.Name}
		if v.places == nil {
			p = path{"inputs", idx(i)}
		}
		if seen[in.Name] {
			v.errorf(p, true, "duplicate input %q", in.Name)
		}
		seen[in.Name] = true
		if !inputPattern.MatchString(in.Name) {
			v.errorf(p, true, "invalid input name %q: use letters, digits and '_', not starting with a digit (expressions read it as inputs.<name>)", in.Name)
		}
		if in.Type == "" && !v.present(p.with("type")) {
			in.Type = "any"
		}
		if !contains(InputTypes, in.Type) {
			v.errorf(p.with("type"), false, "invalid input type %q; valid types: %s", in.Type, strings.Join(InputTypes, ", "))
			continue
		}
		if in.Default == nil {
			continue
		}
		if in.Required {
			v.errorf(p.with("default"), true, "input %q is required and has a default; drop one (a default makes it optional)", in.Name)
		}
		d, err := conform(in.Type, in.Default)
		if err != nil {
			v.errorf(p.with("default"), false, "default of input %q: %v", in.Name, err)
			continue
		}
		in.Default = d
	}
}

// conform checks a default against its input type; numbers become float64
// as they would arrive from JSON.
func conform(typ string, val any) (any, error) {
	ok := false
	switch typ {
	case "any":
		return val, nil
	case "string":
		_, ok = val.(string)
	case "number", "integer":
		var f float64
		switch n := val.(type) {
		case int64:
			f, ok = float64(n), true
		case float64:
			f, ok = n, true
		case int:
			f, ok = float64(n), true
		}
		if ok && typ == "integer" && f != math.Trunc(f) {
			return nil, fmt.Errorf("want an integer, got %v", f)
		}
		if ok {
			return f, nil
		}
	case "boolean":
		_, ok = val.(bool)
	case "object":
		_, ok = val.(map[string]any)
	case "array":
		_, ok = val.([]any)
	}
	if !ok {
		return nil, fmt.Errorf("want %s, got %s", article(typ), jsonKind(val))
	}
	return val, nil
}

func article(typ string) string {
	if typ == "integer" || typ == "object" || typ == "array" {
		return "an " + typ
	}
	return "a " + typ
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case int, int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

func (v *validator) triggers() {
	names := map[string]bool{}
	for i, t := range v.w.Triggers {
		p := path{"triggers", idx(i)}
		kinds := 0
		for _, s := range []string{t.Cron, t.Event, t.Webhook} {
			if s != "" {
				kinds++
			}
		}
		if kinds != 1 {
			v.errorf(p, false, "a trigger needs exactly one of cron, event or webhook")
			v.badTriggers[i] = true
			continue
		}
		switch {
		case t.Cron != "":
			v.cron(p, i, t, names)
		case t.Event != "" && !eventPattern.MatchString(t.Event):
			v.errorf(p.with("event"), false, "invalid event type %q: use letters, digits, '.', '_' and '-', such as order.created", t.Event)
		case t.Webhook != "" && !namePattern.MatchString(t.Webhook):
			v.errorf(p.with("webhook"), false, "invalid webhook name %q: use lowercase letters, digits, '.', '_' and '-'", t.Webhook)
		}
		v.webhookAuth(p, t)
		if t.Cron != "" && t.Filter != "" {
			v.errorf(p.with("filter"), true, "a cron trigger has no event to filter; filter is for event and webhook triggers")
		}
		if t.Cron == "" {
			v.cronOnly(p, t)
		}
		for name := range t.Inputs {
			if !v.declared(name) {
				v.errorf(p.with("inputs", name), true, "trigger sets undeclared input %q", name)
			}
		}
	}
}

// webhookAuth checks a webhook's authentication: every webhook has one
// (hmac with a secret, or bearer with a token), and the other triggers
// have none.
func (v *validator) webhookAuth(p path, t Trigger) {
	if t.Webhook == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"auth", t.Auth != ""}, {"secret", t.Secret != ""}, {"token", t.Token != ""},
			{"signature", t.Signature != nil}, {"idempotency_key", t.IdempotencyKey != ""}} {
			if f.set {
				v.errorf(p.with(f.name), true, "%s is only for webhook triggers", f.name)
			}
		}
		return
	}
	switch t.Auth {
	case "", "hmac":
		if t.Secret == "" {
			v.errorf(p, false, "webhook %q needs a secret to check the signature of its requests (secret: ${{ env.NAME }}), or auth: bearer with a token", t.Webhook)
		}
		if t.Token != "" {
			v.errorf(p.with("token"), true, "token is for auth: bearer; an hmac webhook uses secret")
		}
	case "bearer":
		if t.Token == "" {
			v.errorf(p, false, "webhook %q with auth: bearer needs a token (token: ${{ env.NAME }})", t.Webhook)
		}
		if t.Secret != "" || t.Signature != nil {
			v.errorf(p.with("auth"), true, "auth: bearer takes a token, not a secret or a signature")
		}
	default:
		v.errorf(p.with("auth"), true, "unknown webhook auth %q: use hmac (with secret) or bearer (with token)", t.Auth)
	}
	if sig := t.Signature; sig != nil {
		switch sig.Algorithm {
		case "", "sha256", "sha1", "sha512":
		default:
			v.errorf(p.with("signature", "algorithm"), true, "unknown signature algorithm %q: use sha256, sha1 or sha512", sig.Algorithm)
		}
		if sig.Tolerance < 0 {
			v.errorf(p.with("signature", "tolerance"), true, "tolerance must not be negative")
		}
		if sig.Tolerance != 0 && sig.TimestampHeader == "" {
			v.errorf(p.with("signature", "tolerance"), true, "tolerance needs a timestamp_header")
		}
	}
}

func (v *validator) cron(p path, i int, t Trigger, names map[string]bool) {
	if _, err := cron.Parse(t.Cron, ""); err != nil {
		v.errorf(p.with("cron"), false, "invalid cron %q: %v; use five fields (minute hour day month weekday), six with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly, @every 5m", t.Cron, err)
	}
	if _, err := cron.Location(t.Timezone); err != nil {
		v.errorf(p.with("timezone"), false, "%v", err)
	}
	if t.Name != "" && !namePattern.MatchString(t.Name) {
		v.errorf(p.with("name"), false, "invalid schedule name %q: use lowercase letters, digits, '.', '_' and '-'", t.Name)
	}
	if name := v.w.CronName(i); names[name] {
		v.errorf(p.with("name"), t.Name == "", "two cron triggers are named %q; give each a distinct name", name)
	} else {
		names[name] = true
	}
	switch t.Catchup {
	case "", CatchupNone, CatchupLatest, CatchupAll:
	default:
		v.errorf(p.with("catchup"), false, "unknown catchup %q: use none, latest or all", t.Catchup)
	}
	if t.CatchupLimit < 0 || t.CatchupLimit > MaxCatchupLimit {
		v.errorf(p.with("catchup_limit"), false, "catchup_limit must be between 1 and %d, got %d", MaxCatchupLimit, t.CatchupLimit)
	}
	switch t.Overlap {
	case "", OverlapAllow, OverlapSkip, OverlapQueue, OverlapCancelPrevious:
	default:
		v.errorf(p.with("overlap"), false, "unknown overlap %q: use allow, skip, queue or cancel_previous", t.Overlap)
	}
}

// cronOnly reports the cron trigger fields set on a trigger of another kind.
func (v *validator) cronOnly(p path, t Trigger) {
	for _, f := range []struct {
		name string
		set  bool
	}{{"timezone", t.Timezone != ""}, {"name", t.Name != ""}, {"catchup", t.Catchup != ""}, {"catchup_limit", t.CatchupLimit != 0}, {"overlap", t.Overlap != ""}} {
		if f.set {
			v.errorf(p.with(f.name), true, "%s is only for cron triggers", f.name)
		}
	}
}

func (v *validator) declared(input string) bool {
	for _, in := range v.w.Inputs {
		if in.Name == input {
			return true
		}
	}
	return false
}

// decls is what expressions see of the inputs.
func (v *validator) inputDecls() map[string]string {
	m := make(map[string]string, len(v.w.Inputs))
	for _, in := range v.w.Inputs {
		m[in.Name] = in.Type
	}
	return m
}
