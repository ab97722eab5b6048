package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// terminalFD returns the file descriptor behind s when it is a terminal.
func terminalFD(s any) (int, bool) {
	f, ok := s.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return fd, err == nil
}

// makeRaw puts the terminal fd in raw mode (as cfmakeraw does: no echo, no
// line editing, no signals from keys, 8-bit) and returns the undo.
func makeRaw(fd int) (func(), error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

func terminalSize(fd int) (mkruntime.TerminalSize, bool) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || ws.Row == 0 {
		return mkruntime.TerminalSize{}, false
	}
	return mkruntime.TerminalSize{Width: ws.Col, Height: ws.Row}, true
}

// watchResize sends the terminal's size now and after every SIGWINCH until
// ctx ends.
func watchResize(ctx context.Context, fd int) <-chan mkruntime.TerminalSize {
	out := make(chan mkruntime.TerminalSize, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		send := func() {
			if sz, ok := terminalSize(fd); ok {
				select {
				case <-out: // only the newest size matters
				default:
				}
				out <- sz
			}
		}
		send()
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				send()
			}
		}
	}()
	return out
}
