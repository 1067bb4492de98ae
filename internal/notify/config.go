// Package notify owns notification channels: the server's channel
// configuration (a YAML file), the webhook and SMTP email channels, and
// Channels, the engine.Sender that delivers an outbox notification to the
// channel it names.
package notify

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/legatohq/legato/internal/engine"
)

// Config is the notification configuration file (`legato server
// --notify-config FILE`). Its field comments are the reference.
type Config struct {
	// Channels maps a channel name (what workflows list under notify) to
	// its settings.
	Channels map[string]ChannelConfig `yaml:"channels"`
	// Delivery tunes retries of failed deliveries.
	Delivery DeliveryConfig `yaml:"delivery"`
}

// ChannelConfig is one channel: Type "webhook" or "smtp" and the fields
// of that type.
type ChannelConfig struct {
	Type string `yaml:"type"`

	// URL is where a webhook channel POSTs (http or https); URLEnv names
	// an environment variable holding it instead (Slack webhook URLs are
	// secrets).
	URL    string `yaml:"url"`
	URLEnv string `yaml:"url_env"`
	// Format is "json" (default: the notification's fields) or "slack"
	// (a Slack-compatible {"text": message} body).
	Format string `yaml:"format"`
	// Headers are added to every request of a webhook channel.
	Headers map[string]string `yaml:"headers"`

	// Host and Port are the SMTP server (port default 587, or 465 with
	// TLS "tls").
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// From is the sender address; To the recipients.
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
	// TLS is "starttls" (require STARTTLS), "tls" (implicit TLS, usually
	// port 465), "none" (plain text) or "auto" (default: STARTTLS when the
	// server offers it).
	TLS string `yaml:"tls"`
	// Username and PasswordEnv (the name of an environment variable that
	// holds the password) turn on SMTP AUTH PLAIN; net/smtp refuses to
	// send the password without TLS except to localhost.
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	// SubjectPrefix starts every subject (default "[Legato]").
	SubjectPrefix string `yaml:"subject_prefix"`
}

// DeliveryConfig maps to engine.DeliveryOptions; zero values take its
// defaults (8 tries, 2s doubling up to 5m, 30s per try).
type DeliveryConfig struct {
	Attempts   int    `yaml:"attempts"`
	Backoff    string `yaml:"backoff"`
	MaxBackoff string `yaml:"max_backoff"`
	Timeout    string `yaml:"timeout"`
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// Load reads and checks a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notify config: %w", err)
	}
	return Parse(path, b)
}

// Parse reads and checks a configuration; name is used in errors.
func Parse(name string, b []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalWithOptions(b, &c, yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("notify config %s: %s", name, strings.TrimSpace(yaml.FormatError(err, false, false)))
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("notify config %s: %w", name, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	var errs []error
	names := make([]string, 0, len(c.Channels))
	for n := range c.Channels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !namePattern.MatchString(n) {
			errs = append(errs, fmt.Errorf("channel %q: invalid name: use letters, digits, '.', '_' and '-'", n))
			continue
		}
		if err := c.Channels[n].check(); err != nil {
			errs = append(errs, fmt.Errorf("channel %q: %w", n, err))
		}
	}
	if _, err := c.Delivery.Options(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (ch ChannelConfig) check() error {
	switch ch.Type {
	case "webhook":
		u := ch.url()
		if u == "" {
			return errors.New("a webhook needs url (or url_env naming a set environment variable)")
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return errors.New("url must be an http or https URL")
		}
		if ch.Format != "" && ch.Format != "json" && ch.Format != "slack" {
			return fmt.Errorf("format must be json or slack, not %q", ch.Format)
		}
	case "smtp":
		if ch.Host == "" || ch.From == "" || len(ch.To) == 0 {
			return errors.New("an smtp channel needs host, from and to")
		}
		switch ch.TLS {
		case "", "auto", "starttls", "tls", "none":
		default:
			return fmt.Errorf("tls must be auto, starttls, tls or none, not %q", ch.TLS)
		}
		if ch.Port < 0 || ch.Port > 65535 {
			return fmt.Errorf("port %d is out of range", ch.Port)
		}
		if ch.PasswordEnv != "" && os.Getenv(ch.PasswordEnv) == "" {
			return fmt.Errorf("password_env: the environment variable %s is not set", ch.PasswordEnv)
		}
	case "":
		return errors.New("missing type: webhook or smtp")
	default:
		return fmt.Errorf("unknown type %q: use webhook or smtp", ch.Type)
	}
	return nil
}

func (ch ChannelConfig) url() string {
	if ch.URLEnv != "" {
		return os.Getenv(ch.URLEnv)
	}
	return ch.URL
}

// Options converts the delivery settings.
func (d DeliveryConfig) Options() (engine.DeliveryOptions, error) {
	o := engine.DeliveryOptions{Attempts: d.Attempts}
	var errs []error
	for _, f := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"backoff", d.Backoff, &o.Backoff}, {"max_backoff", d.MaxBackoff, &o.MaxBackoff}, {"timeout", d.Timeout, &o.Timeout}} {
		if f.s == "" {
			continue
		}
		v, err := time.ParseDuration(f.s)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("delivery %s: %q is not a positive duration such as 2s", f.name, f.s))
		}
		*f.dst = v
	}
	if d.Attempts < 0 {
		errs = append(errs, errors.New("delivery attempts must not be negative"))
	}
	return o, errors.Join(errs...)
}
