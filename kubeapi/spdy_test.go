package kubeapi

import (
	"context"
	"errors"
	"io"
	"testing"

	clientrc "k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// The SPDY session hands the runtime's outcome to the kubelet library in
// the shape it turns into the error stream's Status.
func TestSPDYSessionOutcome(t *testing.T) {
	broken := errors.New("runtime broke")
	for _, c := range []struct {
		name     string
		code     int32
		err      error
		wantCode int // of a CodeExitError; 0 for none
		wantErr  error
	}{
		{name: "success"},
		{name: "exit 3", code: 3, wantCode: 3},
		{name: "runtime error", err: broken, wantErr: broken},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got streamIO
			s := spdySession{ctx: context.Background(), run: func(_ context.Context, sio streamIO) (int32, error) {
				got = sio
				return c.code, c.err
			}}
			err := s.ExecInContainer(context.Background(), "", "", "", []string{"sh"}, nil, nil, nil, false, nil, 0)
			var ce utilexec.CodeExitError
			switch {
			case c.wantCode != 0:
				if !errors.As(err, &ce) || ce.Code != c.wantCode || !ce.Exited() {
					t.Errorf("error %v, want exit code %d", err, c.wantCode)
				}
			case !errors.Is(err, c.wantErr):
				t.Errorf("error %v, want %v", err, c.wantErr)
			}
			// Streams the client did not ask for are discarded, not nil.
			if got.stdin != nil || got.stdout != io.Discard || got.stderr != io.Discard || got.resize != nil {
				t.Errorf("streams %+v", got)
			}
		})
	}
}

// Terminal sizes reach the runtime in its own type.
func TestSPDYSessionResize(t *testing.T) {
	sizes := make(chan clientrc.TerminalSize, 1)
	sizes <- clientrc.TerminalSize{Width: 120, Height: 40}
	s := spdySession{ctx: context.Background(), run: func(ctx context.Context, sio streamIO) (int32, error) {
		if got := <-sio.resize; got != (mkruntime.TerminalSize{Width: 120, Height: 40}) {
			t.Errorf("size %+v", got)
		}
		return 0, nil
	}}
	if err := s.AttachContainer(context.Background(), "", "", "", nil, nil, nil, true, sizes); err != nil {
		t.Fatal(err)
	}
}
