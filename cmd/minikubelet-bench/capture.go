package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// connAttempt is one TCP connection the host opened to a pod: a probe.
type connAttempt struct {
	At      time.Time // the SYN, kernel timestamp
	Pod     string    // pod IP
	Port    uint16    // pod port
	Refused bool      // the pod answered RST instead of SYN-ACK
	// RefusedAt is when the RST passed (the prober learns of the failure).
	RefusedAt time.Time
}

// synCapture records the TCP connections opened from the host to pods on
// one bridge, passively, with an AF_PACKET socket: probes cannot be timed
// from inside the agent without changing it, but each TCP or HTTP probe is
// a new connection whose SYN crosses the bridge.
type synCapture struct {
	fd       int
	stopping atomic.Bool
	done     chan struct{}

	mu       sync.Mutex
	attempts []connAttempt
	pending  map[flowKey]int // open SYNs by flow, index into attempts
}

type flowKey struct {
	pod, host     [4]byte
	port, srcPort uint16
}

// captureSYNs starts recording on the bridge; stop ends it.
func captureSYNs(bridge string) (*synCapture, error) {
	ifc, err := net.InterfaceByName(bridge)
	if err != nil {
		return nil, err
	}
	// SOCK_DGRAM: packets arrive without their link header. Protocol 0:
	// the socket receives nothing until bind, so that the filter is in
	// place before the first packet.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	filter, err := bpf.Assemble(connectionFilter())
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("assemble the packet filter: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("attach the packet filter: %w", err)
	}
	// ETH_P_ALL, because the kernel hands packets a host sends (the
	// probes' SYNs) only to taps of all protocols; the filter keeps the
	// IPv4 ones, read checks again.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to %s: %w", bridge, err)
	}
	for _, opt := range []struct{ level, name, value int }{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_SOCKET, unix.SO_RCVBUF, 8 << 20},
	} {
		if err := unix.SetsockoptInt(fd, opt.level, opt.name, opt.value); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("packet socket option: %w", err)
		}
	}
	// A receive timeout lets the reader notice stop.
	tv := unix.Timeval{Usec: 200_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &synCapture{fd: fd, done: make(chan struct{}), pending: map[flowKey]int{}}
	go c.read()
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// snapLen is how much of a packet the capture keeps: IP and TCP headers
// are all it looks at.
const snapLen = 128

// connectionFilter is the capture's classic BPF program: it passes only
// the TCP segments that open or refuse a connection (SYN, SYN-ACK, RST)
// and only their first snapLen bytes. Of the ten or so packets of a probe's
// connection (handshake, request, answer, FINs and ACKs) the kernel then
// queues two for the bench, which wakes up that much less often. With
// SOCK_DGRAM the program sees the packet from its IP header on.
func connectionFilter() []bpf.Instruction {
	const (
		drop = 0
		// flags are TCP's SYN and RST bits: byte 13 of its header.
		flags = 0x02 | 0x04
	)
	return []bpf.Instruction{
		// IPv4 (version nibble 4)?
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 4, SkipTrue: 8},
		// TCP?
		bpf.LoadAbsolute{Off: 9, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_TCP, SkipTrue: 6},
		// The first fragment (only it holds the TCP header)?
		bpf.LoadAbsolute{Off: 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4},
		// X = the IP header's length; the TCP flags are at X+13.
		bpf.LoadMemShift{Off: 0},
		bpf.LoadIndirect{Off: 13, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: flags, SkipFalse: 1},
		bpf.RetConstant{Val: snapLen},
		bpf.RetConstant{Val: drop},
	}
}

func (c *synCapture) read() {
	defer close(c.done)
	buf := make([]byte, snapLen)
	oob := make([]byte, 64)
	for {
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_TRUNC)
		if err != nil {
			if (err == unix.EAGAIN || err == unix.EINTR) && !c.stopping.Load() {
				continue
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Protocol != htons(unix.ETH_P_IP) {
			continue
		}
		at := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
					ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
					at = time.Unix(ts.Unix())
				}
			}
		}
		c.packet(buf[:min(n, len(buf))], at)
	}
}

// packet records a host→pod SYN, and a pod's SYN-ACK or RST answering one.
func (c *synCapture) packet(p []byte, at time.Time) {
	const (
		syn = 0x02
		rst = 0x04
		ack = 0x10
	)
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP {
		return
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+14 {
		return
	}
	var src, dst [4]byte
	copy(src[:], p[12:16])
	copy(dst[:], p[16:20])
	tcp := p[ihl:]
	sport := binary.BigEndian.Uint16(tcp[0:2])
	dport := binary.BigEndian.Uint16(tcp[2:4])
	flags := tcp[13]
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case flags&(syn|ack) == syn:
		key := flowKey{pod: dst, host: src, port: dport, srcPort: sport}
		c.attempts = append(c.attempts, connAttempt{At: at, Pod: net.IP(dst[:]).String(), Port: dport})
		c.pending[key] = len(c.attempts) - 1
	case flags&(syn|ack) == syn|ack:
		delete(c.pending, flowKey{pod: src, host: dst, port: sport, srcPort: dport})
	case flags&rst != 0:
		key := flowKey{pod: src, host: dst, port: sport, srcPort: dport}
		if i, ok := c.pending[key]; ok {
			c.attempts[i].Refused = true
			c.attempts[i].RefusedAt = at
			delete(c.pending, key)
		}
	}
}

// stop ends the capture. Safe to call twice.
func (c *synCapture) stop() {
	if c.stopping.Swap(true) {
		return
	}
	<-c.done // the reader sees stopping at its next receive timeout
	unix.Close(c.fd)
}

// mark is the position after the last attempt so far.
func (c *synCapture) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.attempts)
}

// since returns a copy of the attempts from position from on.
func (c *synCapture) since(from int) []connAttempt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]connAttempt(nil), c.attempts[min(from, len(c.attempts)):]...)
}
