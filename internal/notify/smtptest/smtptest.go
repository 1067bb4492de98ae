// Package smtptest is a small SMTP server for tests: it speaks the real
// protocol (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA with dot-stuffing, RSET,
// NOOP, QUIT) on a loopback port and keeps every message it accepts.
package smtptest

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// Mail is one accepted message.
type Mail struct {
	From string
	To   []string
	// Data is the message as sent (headers and body, CRLF line ends,
	// dot-stuffing removed).
	Data string
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is host:port on loopback.
	Addr string

	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	mails    []Mail
	failNext int
	conns    map[net.Conn]bool
	arrived  chan struct{}
}

// Start listens on a loopback port; the server stops when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}, arrived: make(chan struct{}, 1000)}
	s.wg.Go(s.serve)
	tb.Cleanup(s.Close)
	return s
}

// Host and Port split Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.Addr); return h }

// Port is the server's port.
func (s *Server) Port() string { _, p, _ := net.SplitHostPort(s.Addr); return p }

// FailNext makes the next n messages fail at the end of DATA with a
// temporary error (451), as a busy server would.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// Mails returns the messages accepted so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Arrived receives a value for each accepted message.
func (s *Server) Arrived() <-chan struct{} { return s.arrived }

// Close stops the server and its connections.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.session(textproto.NewConn(c))
		})
	}
}

func (s *Server) session(tc *textproto.Conn) {
	reply := func(line string) bool { return tc.PrintfLine("%s", line) == nil }
	if !reply("220 smtptest ESMTP ready") {
		return
	}
	var m Mail
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		ok := true
		switch strings.ToUpper(verb) {
		case "EHLO":
			ok = reply("250-smtptest greets "+arg) && reply("250-8BITMIME") && reply("250 SMTPUTF8")
		case "HELO":
			ok = reply("250 smtptest")
		case "MAIL":
			m = Mail{From: address(arg)}
			ok = reply("250 2.1.0 ok")
		case "RCPT":
			if m.From == "" {
				ok = reply("503 5.5.1 MAIL first")
				break
			}
			m.To = append(m.To, address(arg))
			ok = reply("250 2.1.5 ok")
		case "DATA":
			if len(m.To) == 0 {
				ok = reply("503 5.5.1 RCPT first")
				break
			}
			if !reply("354 end data with <CR><LF>.<CR><LF>") {
				return
			}
			data, err := readData(tc.Reader.R)
			if err != nil {
				return
			}
			m.Data = data
			ok = s.accept(m, reply)
			m = Mail{}
		case "RSET":
			m = Mail{}
			ok = reply("250 2.0.0 ok")
		case "NOOP":
			ok = reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			ok = reply("502 5.5.2 command not implemented")
		}
		if !ok {
			return
		}
	}
}

// accept keeps m, or refuses it when told to fail.
func (s *Server) accept(m Mail, reply func(string) bool) bool {
	s.mu.Lock()
	if s.failNext > 0 {
		s.failNext--
		s.mu.Unlock()
		return reply("451 4.3.0 try again later")
	}
	s.mails = append(s.mails, m)
	s.mu.Unlock()
	s.arrived <- struct{}{}
	return reply("250 2.0.0 queued")
}

// readData reads DATA lines up to the lone dot, undoing dot-stuffing and
// keeping CRLF line ends.
func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "." {
			return b.String(), nil
		}
		line = strings.TrimPrefix(line, ".")
		b.WriteString(line)
		b.WriteString("\r\n")
	}
}

// address takes the address out of "FROM:<a@b> SIZE=…" or "TO:<a@b>".
func address(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}
