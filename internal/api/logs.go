package api

import (
	"context"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/store"
)

// LogPage is the body of GET /runs/{id}/logs.
type LogPage struct {
	Lines []LogLine `json:"lines"`
	Next  int64     `json:"next" doc:"The seq of the last line, or after when there is none: pass it as after to read on"`
}

// EventPage is the body of GET /runs/{id}/events.
type EventPage struct {
	Events []Event `json:"events"`
	Next   int64   `json:"next" doc:"The seq of the last event, or after when there is none"`
}

// optionalInt is a query parameter that may be absent (0 is a valid value).
type optionalInt struct {
	Value int
	Set   bool
}

// Receiver implements huma.ParamWrapper.
func (o *optionalInt) Receiver() reflect.Value { return reflect.ValueOf(o).Elem().Field(0) }

// OnParamSet implements huma.ParamReactor.
func (o *optionalInt) OnParamSet(isSet bool, _ any) { o.Set = isSet }

// Schema implements huma.SchemaProvider: the parameter is an integer.
func (optionalInt) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeInteger, Format: "int64"}
}

type logsInput struct {
	ID    string      `path:"id"`
	Task  string      `query:"task" doc:"Only this task's lines (default: every task)"`
	Index optionalInt `query:"index" minimum:"-1" doc:"Only this for_each item (-1: the task itself; default: every index)"`
	After int64       `query:"after" minimum:"0" doc:"Only lines with seq > after"`
	Limit int         `query:"limit" default:"1000" minimum:"1" maximum:"10000"`
}

type logsOutput struct{ Body LogPage }

type eventsInput struct {
	ID    string `path:"id"`
	After int64  `query:"after" minimum:"0" doc:"Only events with seq > after"`
	Limit int    `query:"limit" default:"1000" minimum:"1" maximum:"10000"`
}

type eventsOutput struct{ Body EventPage }

func (s *server) registerLogs(api huma.API) {
	tags := []string{"runs"}
	huma.Register(api, huma.Operation{
		OperationID: "list-run-logs", Method: http.MethodGet, Path: Prefix + "/runs/{id}/logs", Tags: tags,
		Summary: "Read a run's task logs",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound},
	}, s.listLogs)
	huma.Register(api, huma.Operation{
		OperationID: "list-run-events", Method: http.MethodGet, Path: Prefix + "/runs/{id}/events", Tags: tags,
		Summary: "Read a run's journal",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound},
	}, s.listEvents)
}

func (s *server) listLogs(ctx context.Context, in *logsInput) (*logsOutput, error) {
	p := &store.LogListParams{RunID: in.ID, Task: in.Task, Index: -2, AfterSeq: in.After, Limit: in.Limit}
	if in.Index.Set {
		p.Index = in.Index.Value
	}
	var lines []*store.LogLine
	err := s.st.View(ctx, func(tx store.Tx) error {
		if _, err := tx.RunGet(ctx, in.ID); err != nil {
			return err
		}
		var err error
		lines, err = tx.LogList(ctx, p)
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, notFoundRun(err, in.ID))
	}
	next := in.After
	if len(lines) > 0 {
		next = lines[len(lines)-1].Seq
	}
	return &logsOutput{Body: LogPage{Lines: toLogLines(lines), Next: next}}, nil
}

func (s *server) listEvents(ctx context.Context, in *eventsInput) (*eventsOutput, error) {
	var evs []*store.Event
	err := s.st.View(ctx, func(tx store.Tx) error {
		if _, err := tx.RunGet(ctx, in.ID); err != nil {
			return err
		}
		var err error
		evs, err = tx.EventList(ctx, in.ID, in.After, in.Limit)
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, notFoundRun(err, in.ID))
	}
	next := in.After
	if len(evs) > 0 {
		next = evs[len(evs)-1].Seq
	}
	return &eventsOutput{Body: EventPage{Events: toEvents(evs), Next: next}}, nil
}

// notFoundRun names the run in a not-found error.
func notFoundRun(err error, id string) error {
	if isNotFound(err) {
		return errNotFound("run %s not found", id)
	}
	return err
}
