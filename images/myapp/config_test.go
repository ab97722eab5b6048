package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []directive
		wantErr string
	}{
		{
			name: "simple and block directives",
			text: "pid /run/x.pid;\nhttp {\n  server { listen 80; }\n}\n",
			want: []directive{
				{name: "pid", args: []string{"/run/x.pid"}, line: 1},
				{name: "http", line: 2, block: []directive{
					{name: "server", line: 3, block: []directive{{name: "listen", args: []string{"80"}, line: 3}}},
				}},
			},
		},
		{
			name: "comments run to the end of the line",
			text: "# header\nlisten 80; # trailing\n#location = /x {\n#  alias /y;\n#}\n",
			want: []directive{{name: "listen", args: []string{"80"}, line: 2}},
		},
		{
			name: "quoted words",
			text: `log_format main '$remote_addr "$request"' "a\"b";`,
			want: []directive{{name: "log_format", args: []string{"main", `$remote_addr "$request"`, `a"b`}, line: 1}},
		},
		{
			name: "empty block",
			text: "events {}",
			want: []directive{{name: "events", line: 1, block: []directive{}}},
		},
		{name: "missing semicolon", text: "listen 80", wantErr: `unexpected end of file, expecting ";" or "}" in t.conf:1`},
		{name: "unclosed block", text: "server {\n listen 80;\n", wantErr: `unexpected end of file, expecting "}" in t.conf:3`},
		{name: "stray close", text: "listen 80;\n}", wantErr: `unexpected "}" in t.conf:2`},
		{name: "stray semicolon", text: ";", wantErr: `unexpected ";"`},
		{name: "unterminated quote", text: "a 'b;", wantErr: `unexpected end of file, expecting "'"`},
		{
			// The lab comments out only the location's first line by
			// mistake: the block's "}" then closes the server early.
			name:    "half commented block",
			text:    "server {\n  #location = /hostname.html {\n    alias /etc/hostname;\n  }\n}\n",
			wantErr: `unexpected "}" in t.conf:5`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse("t.conf", tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			clearFile(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parse =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func clearFile(ds []directive) {
	for i := range ds {
		ds[i].file = ""
		clearFile(ds[i].block)
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "80", want: ":80"},
		{in: "127.0.0.1:8080", want: "127.0.0.1:8080"},
		{in: "*:80", want: ":80"},
		{in: "[::]:80", want: "[::]:80"},
		{in: "localhost", want: "localhost:80"},
		{in: "127.0.0.1:0", want: "127.0.0.1:0"},
		{in: "70000", wantErr: "invalid port"},
		{in: "1.2.3.4:x", wantErr: "invalid port"},
	}
	for _, tt := range tests {
		got, err := listenAddr(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("listenAddr(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("listenAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// writeImageConf writes the image's nginx.conf and conf.d/default.conf into
// dir, with the include pointed at dir, and returns the main file's path.
func writeImageConf(t *testing.T, dir, defaultConf string) string {
	t.Helper()
	main, err := os.ReadFile("conf/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(main), "/etc/nginx/conf.d/*.conf", filepath.Join(dir, "conf.d", "*.conf"), 1)
	text = strings.Replace(text, "/run/nginx.pid", filepath.Join(dir, "nginx.pid"), 1)
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "default.conf"), []byte(defaultConf), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "nginx.conf")
}

func readImageDefaultConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("conf/default.conf")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// commentOutHostname does what the lab does in vi: put "#" before the three
// lines of the hostname.html location.
func commentOutHostname(t *testing.T, conf string) string {
	t.Helper()
	lines := strings.Split(conf, "\n")
	n := 0
	for i, l := range lines {
		if strings.Contains(l, "location = /hostname.html") {
			for j := i; j < i+3; j++ {
				lines[j] = "    #" + strings.TrimSpace(lines[j])
			}
			n++
		}
	}
	if n != 1 {
		t.Fatalf("default.conf has %d hostname.html locations, want 1", n)
	}
	return strings.Join(lines, "\n")
}

func TestLoadImageConfig(t *testing.T) {
	dir := t.TempDir()
	conf, err := LoadConfig(writeImageConf(t, dir, readImageDefaultConf(t)))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		PIDFile: filepath.Join(dir, "nginx.pid"),
		Servers: []Server{{
			Listen:     []string{":80"},
			ServerName: []string{"localhost"},
			Root:       "/usr/share/nginx/html",
			Index:      []string{"index.html"},
			Locations: []Location{
				{Path: "/", Root: "/usr/share/nginx/html", Index: []string{"index.html", "index.htm"}},
				{Exact: true, Path: "/hostname.html", Alias: "/etc/hostname"},
				{Exact: true, Path: "/50x.html", Root: "/usr/share/nginx/html"},
			},
		}},
	}
	if !reflect.DeepEqual(conf, want) {
		t.Errorf("LoadConfig =\n%#v\nwant\n%#v", conf, want)
	}

	// The lab's edit leaves a valid configuration without the alias.
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "default.conf"), []byte(commentOutHostname(t, readImageDefaultConf(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err = LoadConfig(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range conf.Servers[0].Locations {
		if l.Path == "/hostname.html" {
			t.Errorf("commented-out location still configured: %+v", l)
		}
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{name: "no server", text: "events {}\nhttp {}\n", wantErr: `no "server" block`},
		{name: "regex location", text: "server { location ~ \\.php$ { root /x; } }", wantErr: "regular expression locations are not supported"},
		{name: "root and alias", text: "server { location /a { root /x; alias /y; } }", wantErr: `"alias" directive is duplicate`},
		{name: "relative location", text: "server { location a { } }", wantErr: `must start with "/"`},
		{name: "bad listen", text: "server { listen 99999; }", wantErr: "invalid port"},
		{name: "missing include", text: "include /nonexistent/file.conf;", wantErr: "No such file or directory"},
		{name: "pid without argument", text: "pid;\nserver {}", wantErr: `invalid number of arguments in "pid"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "nginx.conf")
			if err := os.WriteFile(name, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(name)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadConfig error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestIncludeGlobWithoutMatchesIsAccepted(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "nginx.conf")
	text := "http { include " + filepath.Join(dir, "none", "*.conf") + "; server { listen 8080; } }"
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := LoadConfig(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := conf.Servers[0].Listen; !reflect.DeepEqual(got, []string{":8080"}) {
		t.Errorf("listen = %v", got)
	}
	if conf.PIDFile != defaultPIDFile {
		t.Errorf("pid file = %q, want the default %q", conf.PIDFile, defaultPIDFile)
	}
}

func TestServerFile(t *testing.T) {
	s := Server{
		Root:  "/srv/root",
		Index: []string{"index.html"},
		Locations: []Location{
			{Path: "/", Root: "/usr/share/nginx/html"},
			{Exact: true, Path: "/hostname.html", Alias: "/etc/hostname"},
			{Path: "/static/", Alias: "/data/files/"},
			{Path: "/static/img/", Root: "/img"},
		},
	}
	tests := []struct{ uri, want string }{
		{"/", "/usr/share/nginx/html"},
		{"/index.html", "/usr/share/nginx/html/index.html"},
		{"/hostname.html", "/etc/hostname"},
		{"/hostname.html2", "/usr/share/nginx/html/hostname.html2"},
		{"/static/a.css", "/data/files/a.css"},
		{"/static/img/b.png", "/img/static/img/b.png"},
	}
	for _, tt := range tests {
		if got, _ := s.file(tt.uri); got != tt.want {
			t.Errorf("file(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
	bare := Server{Root: "/srv/root"}
	if got, _ := bare.file("/a/b.txt"); got != "/srv/root/a/b.txt" {
		t.Errorf("file without locations = %q", got)
	}
}
