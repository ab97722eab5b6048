package probe

import (
	"context"
	"net"
	"strconv"
	"time"
)

// TCP opens a TCP connection to host:port within timeout and closes it at
// once without sending anything. A refused or timed-out connect is a Failure
// carrying the dial error text.
func TCP(ctx context.Context, host string, port int, timeout time.Duration) (Result, string, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := dialer(timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return Failure, err.Error(), nil
	}
	_ = conn.Close() // the connect was the check; a close error changes nothing
	return Success, "", nil
}
