package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"

	"k8s.io/apimachinery/pkg/types"

	"github.com/minikubelet/minikubelet/netns"
)

// PortForward copies between stream and a TCP connection to port inside
// the network namespace of pod uid's running sandbox, as containerd's CRI
// does for the kubelet: the connection goes to localhost inside the pod, so
// a server bound to 127.0.0.1 there is reached too. It blocks until either
// side ends or ctx is cancelled, and closes stream. Only sandboxes this
// runtime made, with their namespace under its netns directory, are
// entered.
func (c *Containerd) PortForward(ctx context.Context, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port forward to pod %s: invalid port %d", uid, port)
	}
	ps, err := c.PodState(ctx, uid)
	if err != nil {
		return err
	}
	var path string
	for _, sb := range ps.Sandboxes {
		if sb.Ready && sb.NetNSPath != "" && filepath.Dir(sb.NetNSPath) == filepath.Clean(c.cfg.NetNSDir) {
			path = sb.NetNSPath
			break
		}
	}
	if path == "" {
		return fmt.Errorf("port forward to pod %s: no running sandbox", uid)
	}
	conn, err := dialInNetNS(ctx, path, port)
	if err != nil {
		return fmt.Errorf("port forward to pod %s: %w", uid, err)
	}
	defer conn.Close()
	return copyBoth(ctx, conn, stream)
}

// dialInNetNS connects to localhost:port inside the namespace at path,
// over IPv4 and then IPv6, and reports both failures when neither answers.
func dialInNetNS(ctx context.Context, path string, port int32) (net.Conn, error) {
	var conn net.Conn
	err := netns.Load(path).Do(func() error {
		var d net.Dialer
		var err4, err6 error
		// The socket is created on this thread, inside the namespace, and
		// stays there once Do returns.
		conn, err4 = d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
		if err4 == nil {
			return nil
		}
		conn, err6 = d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", strconv.Itoa(int(port))))
		if err6 == nil {
			return nil
		}
		return fmt.Errorf("failed to connect to localhost:%d inside namespace %q, IPv4: %w IPv6: %w", port, path, err4, err6)
	})
	return conn, err
}

// copyBoth copies in both directions. The forward ends when the pod's side
// ends (its answer is complete), or ctx ends; when the client's side ends
// first, the pod sees EOF and its answer is still copied back.
func copyBoth(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	toPod, fromPod := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok && err == nil {
			_ = tc.CloseWrite()
		}
		toPod <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	var err error
	select {
	case err = <-fromPod:
	case err = <-toPod:
		if err == nil {
			select {
			case err = <-fromPod:
			case <-ctx.Done():
			}
		}
	case <-ctx.Done():
	}
	// Closing both ends whichever copy still runs.
	conn.Close()
	stream.Close()
	return ignoreClosed(err)
}

// ignoreClosed drops the error a copy gets when the other side closed the
// connection, which is how a forwarded connection normally ends.
func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
