package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Webhook POSTs a JSON body: the message's fields, or with Slack
// {"text": …}, which Slack's incoming webhooks (and Mattermost's, Teams'
// workflows, Discord's /slack endpoint) accept. Any 2xx answer is a
// delivery.
type Webhook struct {
	URL     string
	Slack   bool
	Headers map[string]string
	Client  *http.Client
}

// Send posts m.
func (w *Webhook) Send(ctx context.Context, m *Message) error {
	var body any = m.Fields
	if w.Slack {
		body = map[string]string{"text": m.Text}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "legato-notify")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("legato-notification-%d", m.ID))
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	// Errors name the host only: a webhook URL's path is often its secret.
	host := req.URL.Scheme + "://" + req.URL.Host
	resp, err := w.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s answered %s: %s", host, resp.Status, bytes.TrimSpace(snippet))
	}
	return nil
}
