// Command myapp is the web app of the lab images myapp:v1 and myapp:v2: a
// small static stand-in for the nginx-based ikubernetes/myapp. It is
// installed as /usr/sbin/nginx and takes the nginx command line the lab
// uses:
//
//	nginx -g 'daemon off;'   run the server in the foreground (the image's command)
//	nginx -s reload          re-read /etc/nginx/nginx.conf and conf.d/*.conf
//	nginx -s stop            stop serving; the master process keeps running
//	nginx -t                 test the configuration
//	nginx -v                 print the version
//
// It serves "Hello MyApp | Version: v1 | …" at / (the version is set at
// build time with -ldflags "-X main.version=v2"), and files per the
// configuration's root, location and alias directives, so the stock
// "location = /hostname.html { alias /etc/hostname; }" answers the pod's
// hostname, and commenting that block out and reloading makes the page 404.
//
// Unlike nginx, "-s stop" and "-s quit" leave the process running (they send
// SIGWINCH, which in nginx stops the workers but not the master): the server
// stops listening, a TCP liveness probe fails and the kubelet restarts the
// container, as in the lab. SIGTERM, SIGINT and SIGQUIT sent to the process
// itself (the kubelet's stop signal) make it exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

const defaultConf = "/etc/nginx/nginx.conf"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the nginx command-line options this program takes.
type options struct {
	conf    string
	globals string
	signal  string
	test    bool
	version bool
	quiet   bool
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("nginx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.conf, "c", defaultConf, "set configuration `file`")
	fs.StringVar(&o.globals, "g", "", "set global `directives` out of configuration file")
	fs.StringVar(&o.signal, "s", "", "send `signal` to the master process: stop, quit, reopen, reload")
	fs.BoolVar(&o.test, "t", false, "test configuration and exit")
	fs.BoolVar(&o.test, "T", false, "test configuration and exit")
	fs.BoolVar(&o.version, "v", false, "show version and exit")
	fs.BoolVar(&o.version, "V", false, "show version and exit")
	fs.BoolVar(&o.quiet, "q", false, "suppress non-error messages during configuration testing")
	fs.String("p", "", "set prefix `path` (accepted and ignored)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: nginx [-?hvVtTq] [-s signal] [-c filename] [-g directives]\n\nOptions:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("invalid option: %q", fs.Arg(0))
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "nginx: %v\n", err)
		return 1
	}
	if o.version {
		fmt.Fprintf(stderr, "nginx version: myapp/%s (nginx-compatible lab server of minikubelet)\n", version)
		return 0
	}
	var globals []directive
	if o.globals != "" {
		if globals, err = parse("command line", o.globals); err != nil {
			fmt.Fprintf(stderr, "nginx: [emerg] %v\n", err)
			return 1
		}
	}
	m := newMaster(o.conf, globals, stderr, stdout)
	switch {
	case o.test:
		if _, err := m.load(); err != nil {
			fmt.Fprintf(stderr, "nginx: [emerg] %v\nnginx: configuration file %s test failed\n", err, o.conf)
			return 1
		}
		if !o.quiet {
			fmt.Fprintf(stderr, "nginx: the configuration file %s syntax is ok\nnginx: configuration file %s test is successful\n", o.conf, o.conf)
		}
		return 0
	case o.signal != "":
		return sendSignal(m, o.signal, stderr)
	}

	// Subscribe before the PID file exists, so that a signal sent as soon
	// as it appears is not lost (or fatal).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, masterSignals...)
	defer signal.Stop(sigs)
	if err := m.start(); err != nil {
		fmt.Fprintf(stderr, "nginx: [emerg] %v\n", err)
		return 1
	}
	m.run(context.Background(), sigs)
	return 0
}

// signalFor maps an "nginx -s" name to the signal sent to the master.
func signalFor(name string) (syscall.Signal, error) {
	switch name {
	case "reload":
		return syscall.SIGHUP, nil
	case "stop", "quit":
		return syscall.SIGWINCH, nil
	case "reopen":
		return syscall.SIGUSR1, nil
	}
	return 0, fmt.Errorf("invalid option: \"-s %s\"", name)
}

// sendSignal does what "nginx -s NAME" does: read the master's PID from the
// PID file the configuration names and signal it.
func sendSignal(m *master, name string, stderr io.Writer) int {
	sig, err := signalFor(name)
	if err != nil {
		fmt.Fprintf(stderr, "nginx: %v\n", err)
		return 1
	}
	conf, err := m.load()
	if err != nil {
		fmt.Fprintf(stderr, "nginx: [emerg] %v\n", err)
		return 1
	}
	m.errlog.Printf("notice", "signal process started")
	data, err := os.ReadFile(conf.PIDFile)
	if err != nil {
		m.errlog.Printf("error", "open() \"%s\" failed (2: No such file or directory)", conf.PIDFile)
		return 1
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		m.errlog.Printf("error", "invalid PID number \"%s\" in \"%s\"", strings.TrimSpace(string(data)), conf.PIDFile)
		return 1
	}
	if err := syscall.Kill(pid, sig); err != nil {
		m.errlog.Printf("error", "kill(%d, %d) failed (%v)", pid, int(sig), err)
		return 1
	}
	return 0
}
