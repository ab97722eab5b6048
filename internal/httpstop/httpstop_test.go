package httpstop

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
)

func TestShutdown(t *testing.T) {
	tests := []struct {
		name       string
		openStream bool
		want       bool
	}{
		{"no streams", false, false},
		{"a stream outlives the grace", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.NotFoundHandler()}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			var streams sync.WaitGroup
			if tc.openStream {
				streams.Add(1)
				defer streams.Done()
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // as at an agent's shutdown: the serving context is over
			if got := Shutdown(ctx, srv, &streams); got != tc.want {
				t.Errorf("streams open = %v, want %v", got, tc.want)
			}
			if err := <-served; err != http.ErrServerClosed {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		})
	}
}
