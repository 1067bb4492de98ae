package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/legatohq/legato/internal/store"
)

// CloudEvent is an event as the API shows it (CloudEvents 1.0 attributes,
// plus where and when Legato stored it).
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time,omitzero"`
	DataContentType string    `json:"datacontenttype,omitempty"`
	Data            any       `json:"data,omitempty"`
	Namespace       string    `json:"namespace" doc:"The namespace whose workflows the event reaches (the CloudEvents extension attribute namespace; default \"default\")"`
	Seq             int64     `json:"seq" doc:"The event's position in Legato's inbox"`
	ReceivedAt      time.Time `json:"received_at"`
}

// EventIngest is the answer to POST /events.
type EventIngest struct {
	Event     CloudEvent `json:"event" doc:"The stored event: the first one delivered when duplicate"`
	Duplicate bool       `json:"duplicate" doc:"An event with this source and id was stored before: this delivery changed nothing"`
	Runs      []string   `json:"runs" doc:"The runs the event started"`
	Woke      []string   `json:"woke" doc:"The waiting wait_event task runs it completed (run/task[/index])"`
	Problems  []string   `json:"problems" doc:"Triggers or waits the event could not be applied to (a filter or input that failed to evaluate)"`
}

type postEventInput struct {
	ContentType string `header:"Content-Type"`
	Namespace   string `query:"namespace" doc:"The namespace, when the event has no namespace attribute"`
	SpecVersion string `header:"ce-specversion" doc:"Binary mode: the CloudEvents attributes are ce-* headers and the body is the data"`
	CEID        string `header:"ce-id"`
	CESource    string `header:"ce-source"`
	CEType      string `header:"ce-type"`
	CESubject   string `header:"ce-subject"`
	CETime      string `header:"ce-time"`
	CENamespace string `header:"ce-namespace"`
	RawBody     []byte `contentType:"application/cloudevents+json"`
}

type postEventOutput struct {
	Status int
	Body   EventIngest
}

type listInboxInput struct {
	Namespace string `query:"namespace"`
	Type      string `query:"type"`
	After     int64  `query:"after" minimum:"0" doc:"Only events with a greater seq (to page forwards)"`
	Limit     int    `query:"limit" default:"100" minimum:"1" maximum:"1000"`
}

type listInboxOutput struct {
	Body struct {
		Events []CloudEvent `json:"events" doc:"Oldest first"`
	}
}

func (s *server) registerEvents(api huma.API) {
	tags := []string{"events"}
	huma.Register(api, huma.Operation{
		OperationID: "post-event", Method: http.MethodPost, Path: Prefix + "/events", Tags: tags,
		Summary: "Post a CloudEvent",
		Description: "Structured mode (Content-Type: application/cloudevents+json, the event as JSON) or binary mode " +
			"(ce-specversion, ce-id, ce-source, ce-type, ce-subject, ce-time headers; the body is the data). " +
			"Answers 202 when stored, 200 with the stored event when an event with the same source and id was stored before.",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.postEvent)
	// A binary mode event may have no data: the body is optional (huma
	// makes a RawBody required, and checks it through this operation).
	api.OpenAPI().Paths[Prefix+"/events"].Post.RequestBody.Required = false
	huma.Register(api, huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: Prefix + "/events", Tags: tags,
		Summary: "List stored events, oldest first",
		Errors:  []int{http.StatusBadRequest, http.StatusUnauthorized},
	}, s.listInbox)
}

func (s *server) postEvent(ctx context.Context, in *postEventInput) (*postEventOutput, error) {
	ev, err := parseCloudEvent(in)
	if err != nil {
		return nil, err
	}
	ev.Actor = actor(ctx)
	res, err := s.eng.IngestEvent(ctx, ev)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &postEventOutput{Status: http.StatusAccepted, Body: EventIngest{
		Event: toCloudEvent(res.Event), Duplicate: res.Duplicate,
		Runs: nonNil(res.Runs), Woke: nonNil(res.Woke), Problems: nonNil(res.Problems),
	}}
	if res.Duplicate {
		out.Status = http.StatusOK
	}
	return out, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// parseCloudEvent reads a structured or a binary mode event.
func parseCloudEvent(in *postEventInput) (*store.InboxEvent, error) {
	mediaType, _, _ := mime.ParseMediaType(in.ContentType)
	ev := &store.InboxEvent{Namespace: in.Namespace}
	var spec, timeAttr string
	switch {
	case in.SpecVersion != "":
		spec, timeAttr = in.SpecVersion, in.CETime
		ev.ID, ev.Source, ev.Type, ev.Subject = in.CEID, in.CESource, in.CEType, in.CESubject
		if in.CENamespace != "" {
			ev.Namespace = in.CENamespace
		}
		ev.DataContentType = in.ContentType
		if len(in.RawBody) > 0 {
			ev.Data = decodeData(mediaType, in.RawBody)
		}
	case mediaType == "application/cloudevents+json" || mediaType == "application/json" || mediaType == "":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(in.RawBody, &m); err != nil {
			return nil, errInvalidRequest("the body is not a CloudEvent in JSON: %v", err)
		}
		str := func(name string) (string, error) {
			raw, ok := m[name]
			if !ok {
				return "", nil
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return "", errInvalidRequest("attribute %s must be a string", name)
			}
			return v, nil
		}
		fields := []struct {
			name string
			dst  *string
		}{{"specversion", &spec}, {"id", &ev.ID}, {"source", &ev.Source}, {"type", &ev.Type}, {"subject", &ev.Subject},
			{"time", &timeAttr}, {"datacontenttype", &ev.DataContentType}}
		for _, f := range fields {
			v, err := str(f.name)
			if err != nil {
				return nil, err
			}
			*f.dst = v
		}
		if ns, err := str("namespace"); err != nil {
			return nil, err
		} else if ns != "" {
			ev.Namespace = ns
		}
		if raw, ok := m["data"]; ok {
			if err := json.Unmarshal(raw, &ev.Data); err != nil {
				return nil, errInvalidRequest("data: %v", err)
			}
		} else if b64, err := str("data_base64"); err != nil {
			return nil, err
		} else if b64 != "" {
			b, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, errInvalidRequest("data_base64 is not base64: %v", err)
			}
			ct, _, _ := mime.ParseMediaType(ev.DataContentType)
			ev.Data = decodeData(ct, b)
		}
	default:
		return nil, errInvalidRequest("Content-Type %s: post application/cloudevents+json (structured mode) or ce-* headers (binary mode)", in.ContentType)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"specversion", spec}, {"id", ev.ID}, {"source", ev.Source}, {"type", ev.Type}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, errInvalidRequest("the event has no %s (CloudEvents requires specversion, id, source and type)", strings.Join(missing, ", "))
	}
	if spec != "1.0" {
		return nil, errInvalidRequest("specversion %q: only CloudEvents 1.0 is supported", spec)
	}
	if timeAttr != "" {
		t, err := time.Parse(time.RFC3339Nano, timeAttr)
		if err != nil {
			return nil, errInvalidRequest("time %q is not an RFC 3339 time", timeAttr)
		}
		ev.Time = t.UTC()
	}
	if ev.DataContentType == "" && ev.Data != nil {
		ev.DataContentType = "application/json"
	}
	return ev, nil
}

// decodeData parses JSON data (a JSON media type, or none given) and keeps
// anything else as text.
func decodeData(mediaType string, b []byte) any {
	if mediaType == "" || mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") || strings.HasSuffix(mediaType, "/json") {
		var v any
		if json.Unmarshal(b, &v) == nil {
			return v
		}
	}
	return string(b)
}

func (s *server) listInbox(ctx context.Context, in *listInboxInput) (*listInboxOutput, error) {
	var evs []*store.InboxEvent
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		evs, err = tx.InboxList(ctx, &store.InboxListParams{Namespace: in.Namespace, Type: in.Type, AfterSeq: in.After, Limit: in.Limit})
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &listInboxOutput{}
	out.Body.Events = make([]CloudEvent, 0, len(evs))
	for _, ev := range evs {
		out.Body.Events = append(out.Body.Events, toCloudEvent(ev))
	}
	return out, nil
}

func toCloudEvent(ev *store.InboxEvent) CloudEvent {
	return CloudEvent{
		SpecVersion: "1.0", ID: ev.ID, Source: ev.Source, Type: ev.Type, Subject: ev.Subject, Time: ev.Time,
		DataContentType: ev.DataContentType, Data: ev.Data, Namespace: ev.Namespace, Seq: ev.Seq, ReceivedAt: ev.ReceivedAt,
	}
}
