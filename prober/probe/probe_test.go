package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/minikubelet/minikubelet/runtime"
)

func TestResolvePort(t *testing.T) {
	c := &v1.Container{Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "metrics", ContainerPort: 9090}}}
	tests := []struct {
		port    intstr.IntOrString
		want    int
		wantErr string
	}{
		{intstr.FromInt32(8080), 8080, ""},
		{intstr.FromString("http"), 80, ""},
		{intstr.FromString("metrics"), 9090, ""},
		{intstr.FromString("8081"), 8081, ""},
		{intstr.FromString("web"), -1, `strconv.Atoi: parsing "web": invalid syntax`},
		{intstr.FromInt32(0), 0, "invalid port number: 0"},
		{intstr.FromInt32(65536), 65536, "invalid port number: 65536"},
		{intstr.FromInt32(-1), -1, "invalid port number: -1"},
	}
	for _, tt := range tests {
		got, err := ResolvePort(tt.port, c)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("ResolvePort(%v) = %d, %q; want %d, %q", tt.port.String(), got, gotErr, tt.want, tt.wantErr)
		}
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	if res, out, err := TCP(context.Background(), "127.0.0.1", port, time.Second); res != Success || out != "" || err != nil {
		t.Errorf("open port: got (%v, %q, %v), want success", res, out, err)
	}

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cport := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	res, out, err := TCP(context.Background(), "127.0.0.1", cport, time.Second)
	want := fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", cport)
	if res != Failure || out != want || err != nil {
		t.Errorf("closed port: got (%v, %q, %v), want (failure, %q, nil)", res, out, err, want)
	}
}

// grpcServer serves the health service (when hs is set) on 127.0.0.1 and
// records the user agent of the last call.
func grpcServer(t *testing.T, hs *health.Server) (int, *string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ua := new(string)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md["user-agent"]) > 0 {
			*ua = md["user-agent"][0]
		}
		return h(ctx, req)
	}))
	if hs != nil {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port, ua
}

func TestGRPC(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	port, ua := grpcServer(t, hs)
	bare, _ := grpcServer(t, nil)

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cport := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	tests := []struct {
		name    string
		port    int
		service string
		want    Result
		output  string
	}{
		{"serving", port, "", Success, "service healthy"},
		{"named service", port, "api", Success, "service healthy"},
		{"not serving", port, "down", Failure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", port, "nope", Failure, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{"no health service", bare, "", Failure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{"closed port", cport, "", Failure, fmt.Sprintf("timeout: failed to connect service \"127.0.0.1:%d\" within 300ms: context deadline exceeded", cport)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out, err := GRPC(context.Background(), "127.0.0.1", tt.port, tt.service, 300*time.Millisecond, "kube-probe/1.34")
			if err != nil || res != tt.want || out != tt.output {
				t.Errorf("got (%v, %q, %v), want (%v, %q, nil)", res, out, err, tt.want, tt.output)
			}
		})
	}
	if !strings.HasPrefix(*ua, "kube-probe/1.34") {
		t.Errorf("user agent %q, want kube-probe/1.34 first", *ua)
	}
}

type fakeExec struct {
	out  []byte
	code int32
	err  error

	gotID      string
	gotCmd     []string
	gotTimeout time.Duration
}

func (f *fakeExec) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	f.gotID, f.gotCmd, f.gotTimeout = id, cmd, timeout
	return f.out, f.code, f.err
}

func TestExec(t *testing.T) {
	long := []byte(strings.Repeat("y", MaxOutput+100))
	tests := []struct {
		name   string
		fake   fakeExec
		want   Result
		output string
		err    bool
	}{
		{"exit 0", fakeExec{out: []byte("fine\n")}, Success, "fine\n", false},
		{"exit 1", fakeExec{out: []byte("cat: can't open '/tmp/healthy': No such file or directory\n"), code: 1}, Failure,
			"cat: can't open '/tmp/healthy': No such file or directory\n", false},
		{"timeout", fakeExec{err: fmt.Errorf("exec in container: %w", context.DeadlineExceeded)}, Failure, `command "cat /tmp/healthy" timed out`, false},
		// The error the real runtime returns when it killed the command.
		{"runtime timeout", fakeExec{err: fmt.Errorf("exec [sleep 10] in container c1: %w", fmt.Errorf("%w after 1s", runtime.ErrExecTimeout))}, Failure, `command "cat /tmp/healthy" timed out`, false},
		{"runtime error", fakeExec{err: errors.New("container is not running")}, Unknown, "", true},
		{"output capped", fakeExec{out: long, code: 2}, Failure, string(long[:MaxOutput]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fake
			res, out, err := Exec(context.Background(), &f, "abc", []string{"cat", "/tmp/healthy"}, 3*time.Second)
			if res != tt.want || out != tt.output || (err != nil) != tt.err {
				t.Errorf("got (%v, %q, %v), want (%v, %q, err=%v)", res, out, err, tt.want, tt.output, tt.err)
			}
			if f.gotID != "abc" || f.gotTimeout != 3*time.Second {
				t.Errorf("ExecSync got id %q timeout %v", f.gotID, f.gotTimeout)
			}
		})
	}
}

func TestExpandCommand(t *testing.T) {
	env := []v1.EnvVar{
		{Name: "FILE", Value: "/tmp/healthy"},
		{Name: "SECRET", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{Key: "k"}}},
	}
	tests := []struct{ in, want string }{
		{"cat $(FILE)", "cat /tmp/healthy"},
		{"$(FILE)$(FILE)", "/tmp/healthy/tmp/healthy"},
		{"$$(FILE)", "$(FILE)"},
		{"$(MISSING)", "$(MISSING)"},
		{"$(SECRET)", ""},
		{"$HOME and $", "$HOME and $"},
		{"$(FILE", "$(FILE"},
		{"a$$b", "a$b"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := ExpandCommand([]string{tt.in}, env); len(got) != 1 || got[0] != tt.want {
			t.Errorf("ExpandCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
