package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SMTP sends a plain-text email through an SMTP server (net/smtp).
type SMTP struct {
	Host string
	Port int
	From string
	To   []string
	// TLS is auto, starttls, tls or none (see ChannelConfig).
	TLS           string
	Username      string
	Password      string
	SubjectPrefix string
}

func newSMTP(ch ChannelConfig) *SMTP {
	s := &SMTP{Host: ch.Host, Port: ch.Port, From: ch.From, To: ch.To, TLS: ch.TLS, Username: ch.Username, SubjectPrefix: ch.SubjectPrefix}
	if ch.PasswordEnv != "" {
		s.Password = os.Getenv(ch.PasswordEnv)
	}
	if s.TLS == "" {
		s.TLS = "auto"
	}
	if s.Port == 0 {
		s.Port = 587
		if s.TLS == "tls" {
			s.Port = 465
		}
	}
	if s.SubjectPrefix == "" {
		s.SubjectPrefix = "[Legato]"
	}
	return s
}

// Send delivers m as one email to every recipient.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	if err := s.send(ctx, s.compose(m)); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.Host, s.Port, err)
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, msg []byte) error {
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	d := net.Dialer{}
	var conn net.Conn
	var err error
	if s.TLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: s.Host}}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	// The whole conversation is bounded by ctx.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return err
	}
	if s.TLS == "starttls" || s.TLS == "auto" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: s.Host}); err != nil {
				return err
			}
		} else if s.TLS == "starttls" {
			return fmt.Errorf("the server does not offer STARTTLS (set tls: none to send in plain text)")
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return err
		}
	}
	if err := c.Mail(s.From); err != nil {
		return err
	}
	for _, to := range s.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// subjects name each event in an email's subject line.
var subjects = map[string]string{"failure": "failed", "success": "succeeded", "sla_breach": "missed its SLA"}

// compose writes the email: headers, the message's sentence, then every
// field, one per line.
func (s *SMTP) compose(m *Message) []byte {
	what := subjects[m.Event]
	if what == "" {
		what = m.Event
	}
	subject := fmt.Sprintf("%s %v/%v %s", s.SubjectPrefix, m.Fields["namespace"], m.Fields["workflow"], what)
	if task, ok := m.Fields["task"].(string); ok && task != "" {
		subject = fmt.Sprintf("%s %v/%v: task %s %s", s.SubjectPrefix, m.Fields["namespace"], m.Fields["workflow"], task, what)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", s.From)
	header("To", strings.Join(s.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<notification-%d.%s@legato>", m.ID, hex.EncodeToString(id[:])))
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(crlf(m.Text))
	b.WriteString("\r\n\r\n")
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		if k != "message" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, crlf(fmt.Sprint(m.Fields[k])))
	}
	return b.Bytes()
}

// crlf makes every line end in CRLF, as SMTP wants.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}
