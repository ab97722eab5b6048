// Package probe runs one check of a container the way kubelet's pkg/probe
// does: exec through the runtime, TCP connect, HTTP GET and gRPC health
// check. It knows nothing about workers, thresholds or pods beyond the
// fields a handler needs.
//
// Every handler reports a failed target as (Failure, message, nil). An error
// means the check itself could not be carried out (bad port name, runtime
// unreachable); kubelet retries those and then discards the result.
package probe

import (
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Result is the outcome of one check.
type Result int

const (
	// Unknown means the check gave no answer (an error, or an exec that
	// failed to run). Kubelet counts it as a failure without an event.
	Unknown Result = iota
	// Success means the target is healthy.
	Success
	// Warning is a success worth an event: an HTTP 3xx that was not followed.
	Warning
	// Failure means the target is unhealthy.
	Failure
)

// String returns kubelet's spelling, used in "resulted in unknown state".
func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Warning:
		return "warning"
	case Failure:
		return "failure"
	default:
		return "unknown"
	}
}

// MaxOutput bounds the exec output and HTTP body a check keeps (10 KiB, as
// kubelet's maxReadLength and maxRespBodyLength).
const MaxOutput = 10 << 10

// dialer returns kubelet's probe dialer: SO_LINGER of 1 s so that thousands
// of short probe connections do not pile up in TIME-WAIT for a minute, while
// still closing with a FIN rather than a RST (kubernetes issue 89898).
func dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER,
					&syscall.Linger{Onoff: 1, Linger: 1})
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}

// ResolvePort turns a probe's port into a number: an int as is, a name
// looked up in the container's ports, and, like kubelet, a name that is not
// found is tried as a decimal number before giving up. The error text for a
// missing name is therefore strconv's ("parsing \"http\": invalid syntax"),
// which is what kubelet's events show.
func ResolvePort(port intstr.IntOrString, container *v1.Container) (int, error) {
	n := -1
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		for _, p := range container.Ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			var err error
			if n, err = strconv.Atoi(port.StrVal); err != nil {
				return -1, err
			}
		}
	default:
		return -1, fmt.Errorf("port %v has no kind", port)
	}
	if n <= 0 || n > 65535 {
		return n, fmt.Errorf("invalid port number: %d", n)
	}
	return n, nil
}
