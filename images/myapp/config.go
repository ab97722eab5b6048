package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// directive is one nginx configuration directive: a name, its arguments and,
// for block directives such as server and location, the directives inside.
type directive struct {
	name  string
	args  []string
	block []directive // nil for a simple directive
	file  string
	line  int
}

func (d directive) where() string { return fmt.Sprintf("%s:%d", d.file, d.line) }

// parseFile reads and parses an nginx configuration file, following include
// directives (glob patterns, relative to the including file's directory, as
// nginx resolves them against its prefix/conf directory).
func parseFile(name string) ([]directive, error) {
	return parseFileDepth(name, 0)
}

func parseFileDepth(name string, depth int) ([]directive, error) {
	if depth > 10 {
		return nil, fmt.Errorf("%s: includes nested too deeply", name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	ds, err := parse(name, string(data))
	if err != nil {
		return nil, err
	}
	return expandIncludes(ds, filepath.Dir(name), depth)
}

func expandIncludes(ds []directive, dir string, depth int) ([]directive, error) {
	var out []directive
	for _, d := range ds {
		if d.name == "include" && d.block == nil {
			if len(d.args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments in \"include\" directive in %s", d.where())
			}
			pattern := d.args[0]
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(dir, pattern)
			}
			matches, err := filepath.Glob(pattern)
			if err != nil {
				return nil, fmt.Errorf("include %q in %s: %w", d.args[0], d.where(), err)
			}
			// nginx fails on a missing file but accepts a glob that
			// matches nothing.
			if len(matches) == 0 && !strings.ContainsAny(pattern, "*?[") {
				return nil, fmt.Errorf("open() %q failed (2: No such file or directory) in %s", pattern, d.where())
			}
			sort.Strings(matches)
			for _, m := range matches {
				inc, err := parseFileDepth(m, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, inc...)
			}
			continue
		}
		if d.block != nil {
			inner, err := expandIncludes(d.block, dir, depth)
			if err != nil {
				return nil, err
			}
			if inner == nil {
				inner = []directive{} // an empty block is still a block
			}
			d.block = inner
		}
		out = append(out, d)
	}
	return out, nil
}

// parse parses nginx configuration syntax: directives are words ended by
// ";" or followed by a "{ … }" block; "#" starts a comment that runs to the
// end of the line; words may be single- or double-quoted.
func parse(file, text string) ([]directive, error) {
	p := &parser{file: file, text: text, line: 1}
	ds, err := p.block(false)
	if err != nil {
		return nil, err
	}
	return ds, nil
}

type parser struct {
	file string
	text string
	pos  int
	line int
}

// token kinds besides words.
const (
	tokWord = iota
	tokSemicolon
	tokOpen
	tokClose
	tokEOF
)

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s in %s:%d", fmt.Sprintf(format, args...), p.file, p.line)
}

// next returns the next token.
func (p *parser) next() (kind int, word string, err error) {
	for p.pos < len(p.text) {
		c := p.text[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == '#':
			for p.pos < len(p.text) && p.text[p.pos] != '\n' {
				p.pos++
			}
		case unicode.IsSpace(rune(c)):
			p.pos++
		case c == ';':
			p.pos++
			return tokSemicolon, "", nil
		case c == '{':
			p.pos++
			return tokOpen, "", nil
		case c == '}':
			p.pos++
			return tokClose, "", nil
		case c == '"' || c == '\'':
			p.pos++
			var b strings.Builder
			for p.pos < len(p.text) && p.text[p.pos] != c {
				if p.text[p.pos] == '\\' && p.pos+1 < len(p.text) {
					p.pos++
				}
				if p.text[p.pos] == '\n' {
					p.line++
				}
				b.WriteByte(p.text[p.pos])
				p.pos++
			}
			if p.pos >= len(p.text) {
				return 0, "", p.errorf("unexpected end of file, expecting %q", string(c))
			}
			p.pos++
			return tokWord, b.String(), nil
		default:
			start := p.pos
			for p.pos < len(p.text) {
				c := p.text[p.pos]
				if unicode.IsSpace(rune(c)) || c == ';' || c == '{' || c == '}' {
					break
				}
				p.pos++
			}
			return tokWord, p.text[start:p.pos], nil
		}
	}
	return tokEOF, "", nil
}

// block parses directives up to the closing "}" (inner) or the end of the
// text (top level).
func (p *parser) block(inner bool) ([]directive, error) {
	var ds []directive
	var cur *directive
	for {
		kind, word, err := p.next()
		if err != nil {
			return nil, err
		}
		switch kind {
		case tokWord:
			if cur == nil {
				cur = &directive{name: word, file: p.file, line: p.line}
			} else {
				cur.args = append(cur.args, word)
			}
		case tokSemicolon:
			if cur == nil {
				return nil, p.errorf("unexpected \";\"")
			}
			ds = append(ds, *cur)
			cur = nil
		case tokOpen:
			if cur == nil {
				return nil, p.errorf("unexpected \"{\"")
			}
			inside, err := p.block(true)
			if err != nil {
				return nil, err
			}
			if inside == nil {
				inside = []directive{}
			}
			cur.block = inside
			ds = append(ds, *cur)
			cur = nil
		case tokClose:
			if cur != nil {
				return nil, p.errorf("unexpected \"}\"")
			}
			if !inner {
				return nil, p.errorf("unexpected \"}\"")
			}
			return ds, nil
		case tokEOF:
			if cur != nil {
				return nil, p.errorf("unexpected end of file, expecting \";\" or \"}\"")
			}
			if inner {
				return nil, p.errorf("unexpected end of file, expecting \"}\"")
			}
			return ds, nil
		}
	}
}

// Config is what the server needs from the configuration.
type Config struct {
	// PIDFile is where the master writes its PID ("pid" directive).
	PIDFile string
	// Servers are the http server blocks.
	Servers []Server
}

// Server is one server block.
type Server struct {
	// Listen holds host:port addresses, ":80" for "listen 80".
	Listen     []string
	ServerName []string
	Root       string
	Index      []string
	Locations  []Location
}

// Location is one location block. Only exact ("=") and prefix locations are
// supported; regular expression locations are refused at parse time.
type Location struct {
	Exact bool
	Path  string
	Root  string // "" inherits the server's root
	Alias string
	Index []string
}

// Defaults as nginx has them.
const (
	defaultPIDFile = "/run/nginx.pid"
	defaultRoot    = "/usr/share/nginx/html" // nginx's "html" under its prefix
)

// LoadConfig parses the main configuration file and the files it includes.
func LoadConfig(name string) (*Config, error) {
	ds, err := parseFile(name)
	if err != nil {
		return nil, err
	}
	return buildConfig(ds)
}

// buildConfig interprets parsed directives. Directives that do not change
// what this server does (worker_processes, events, log formats, MIME types,
// gzip, ...) are accepted and ignored, so a real nginx.conf loads.
func buildConfig(ds []directive) (*Config, error) {
	c := &Config{PIDFile: defaultPIDFile}
	for _, d := range ds {
		switch d.name {
		case "pid":
			if len(d.args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments in \"pid\" directive in %s", d.where())
			}
			c.PIDFile = d.args[0]
		case "http":
			if d.block == nil {
				return nil, fmt.Errorf("directive \"http\" has no opening \"{\" in %s", d.where())
			}
			servers, err := buildHTTP(d.block)
			if err != nil {
				return nil, err
			}
			c.Servers = append(c.Servers, servers...)
		case "server":
			// conf.d files are included inside http{}; a server block at
			// the top level is accepted for configurations without an
			// http wrapper.
			s, err := buildServer(d, "", nil)
			if err != nil {
				return nil, err
			}
			c.Servers = append(c.Servers, s)
		}
	}
	if len(c.Servers) == 0 {
		return nil, errors.New("no \"server\" block is configured")
	}
	return c, nil
}

func buildHTTP(ds []directive) ([]Server, error) {
	root, index := defaultRoot, []string{"index.html"}
	for _, d := range ds {
		switch d.name {
		case "root":
			if len(d.args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments in \"root\" directive in %s", d.where())
			}
			root = d.args[0]
		case "index":
			index = d.args
		}
	}
	var servers []Server
	for _, d := range ds {
		if d.name != "server" {
			continue
		}
		s, err := buildServer(d, root, index)
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

func buildServer(d directive, root string, index []string) (Server, error) {
	if d.block == nil {
		return Server{}, fmt.Errorf("directive \"server\" has no opening \"{\" in %s", d.where())
	}
	if root == "" {
		root = defaultRoot
	}
	if index == nil {
		index = []string{"index.html"}
	}
	s := Server{Root: root, Index: index}
	for _, d := range d.block {
		switch d.name {
		case "listen":
			if len(d.args) < 1 {
				return Server{}, fmt.Errorf("invalid number of arguments in \"listen\" directive in %s", d.where())
			}
			addr, err := listenAddr(d.args[0])
			if err != nil {
				return Server{}, fmt.Errorf("%v in %s", err, d.where())
			}
			s.Listen = append(s.Listen, addr)
		case "server_name":
			s.ServerName = d.args
		case "root":
			if len(d.args) != 1 {
				return Server{}, fmt.Errorf("invalid number of arguments in \"root\" directive in %s", d.where())
			}
			s.Root = d.args[0]
		case "index":
			s.Index = d.args
		case "location":
			loc, err := buildLocation(d)
			if err != nil {
				return Server{}, err
			}
			s.Locations = append(s.Locations, loc)
		}
	}
	if len(s.Listen) == 0 {
		// nginx listens on *:80 when run as root and no listen is given.
		s.Listen = []string{":80"}
	}
	return s, nil
}

// listenAddr turns the first argument of a listen directive (80,
// 127.0.0.1:8080, [::]:80, *:80, localhost:0) into a host:port address.
func listenAddr(arg string) (string, error) {
	if p, err := strconv.Atoi(arg); err == nil {
		if p < 0 || p > 65535 {
			return "", fmt.Errorf("invalid port in \"%s\" of the \"listen\" directive", arg)
		}
		return ":" + arg, nil
	}
	host, port, err := net.SplitHostPort(arg)
	if err != nil {
		// A host without a port listens on 80.
		if !strings.Contains(arg, ":") || strings.HasPrefix(arg, "[") {
			return net.JoinHostPort(strings.Trim(arg, "[]"), "80"), nil
		}
		return "", fmt.Errorf("invalid listen address \"%s\"", arg)
	}
	if host == "*" {
		host = ""
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("invalid port in \"%s\" of the \"listen\" directive", arg)
	}
	return net.JoinHostPort(host, port), nil
}

func buildLocation(d directive) (Location, error) {
	if d.block == nil {
		return Location{}, fmt.Errorf("directive \"location\" has no opening \"{\" in %s", d.where())
	}
	var loc Location
	switch {
	case len(d.args) == 1:
		loc.Path = d.args[0]
	case len(d.args) == 2 && d.args[0] == "=":
		loc.Exact, loc.Path = true, d.args[1]
	case len(d.args) == 2 && d.args[0] == "^~":
		loc.Path = d.args[1]
	case len(d.args) == 2 && (d.args[0] == "~" || d.args[0] == "~*"):
		return Location{}, fmt.Errorf("regular expression locations are not supported by this server in %s", d.where())
	default:
		return Location{}, fmt.Errorf("invalid number of arguments in \"location\" directive in %s", d.where())
	}
	if !strings.HasPrefix(loc.Path, "/") {
		return Location{}, fmt.Errorf("location \"%s\" must start with \"/\" in %s", loc.Path, d.where())
	}
	for _, d := range d.block {
		switch d.name {
		case "root":
			if len(d.args) != 1 {
				return Location{}, fmt.Errorf("invalid number of arguments in \"root\" directive in %s", d.where())
			}
			loc.Root = d.args[0]
		case "alias":
			if len(d.args) != 1 {
				return Location{}, fmt.Errorf("invalid number of arguments in \"alias\" directive in %s", d.where())
			}
			loc.Alias = d.args[0]
		case "index":
			loc.Index = d.args
		}
	}
	if loc.Root != "" && loc.Alias != "" {
		return Location{}, fmt.Errorf("\"alias\" directive is duplicate, \"root\" directive was specified earlier in %s", d.where())
	}
	return loc, nil
}

// match returns the location of s that serves uri, as nginx picks it: an
// exact match wins, otherwise the longest matching prefix. ok is false when
// no location matches, in which case the server's root serves the request.
func (s *Server) match(uri string) (Location, bool) {
	best, found := Location{}, false
	for _, l := range s.Locations {
		if l.Exact {
			if l.Path == uri {
				return l, true
			}
			continue
		}
		if strings.HasPrefix(uri, l.Path) && (!found || len(l.Path) > len(best.Path)) {
			best, found = l, true
		}
	}
	return best, found
}

// file maps uri to the file that serves it and the index names that apply
// when it names a directory.
func (s *Server) file(uri string) (name string, index []string) {
	loc, ok := s.match(uri)
	index = s.Index
	if ok && loc.Index != nil {
		index = loc.Index
	}
	switch {
	case ok && loc.Alias != "":
		if loc.Exact {
			return loc.Alias, index
		}
		return loc.Alias + strings.TrimPrefix(uri, loc.Path), index
	case ok && loc.Root != "":
		return path.Join(loc.Root, uri), index
	default:
		return path.Join(s.Root, uri), index
	}
}
