package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The exec stream is a private protocol spoken over a connection that the
// exec request upgraded (HTTP 101). Both directions carry frames:
//
//	[1 byte channel][4 byte big-endian payload length][payload]
//
// Channels flowing client → server are stdin, resize and close-stdin;
// server → client are stdout, stderr and exit. The exit frame is the last
// frame the server sends; it then closes the connection.
const (
	ChanStdin      byte = 0
	ChanStdout     byte = 1
	ChanStderr     byte = 2
	ChanResize     byte = 3 // payload: JSON {"Width":w,"Height":h}
	ChanCloseStdin byte = 4 // empty payload: no more stdin
	ChanExit       byte = 5 // payload: JSON ExitStatus
)

// ExecUpgradeProtocol is the Upgrade header value of an exec request.
const ExecUpgradeProtocol = "minikubelet-exec.v1"

// maxFrame bounds one frame's payload, so a corrupt length cannot make the
// reader allocate gigabytes.
const maxFrame = 1 << 20

// ExitStatus is the payload of the exit frame: the command's exit code, or
// the reason it could not be run.
type ExitStatus struct {
	Code  int32  `json:"code"`
	Error string `json:"error,omitempty"`
}

// frameWriter writes frames; it is safe for concurrent use, so stdout and
// stderr copiers can share one connection.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) writeFrame(ch byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), maxFrame)
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = ch
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.w.Write(buf)
	return err
}

// channelWriter is an io.Writer that sends everything written as frames on
// one channel, split to the frame size limit.
type channelWriter struct {
	fw *frameWriter
	ch byte
}

func (c channelWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		if err := c.fw.writeFrame(c.ch, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// readFrame reads one frame. It returns io.EOF only at a clean frame
// boundary; a connection cut inside a frame is io.ErrUnexpectedEOF.
func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:5])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], payload, nil
}
