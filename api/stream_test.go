package api

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	fw := &frameWriter{w: &buf}
	big := bytes.Repeat([]byte("x"), maxFrame+10)
	if _, err := (channelWriter{fw: fw, ch: ChanStdout}).Write(big); err != nil {
		t.Fatal(err)
	}
	if err := fw.writeFrame(ChanCloseStdin, nil); err != nil {
		t.Fatal(err)
	}
	if err := fw.writeFrame(ChanExit, []byte(`{"code":3}`)); err != nil {
		t.Fatal(err)
	}

	want := []struct {
		ch  byte
		len int
	}{{ChanStdout, maxFrame}, {ChanStdout, 10}, {ChanCloseStdin, 0}, {ChanExit, 10}}
	for i, w := range want {
		ch, p, err := readFrame(&buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if ch != w.ch || len(p) != w.len {
			t.Errorf("frame %d: channel %d, %d bytes; want %d, %d", i, ch, len(p), w.ch, w.len)
		}
	}
	if _, _, err := readFrame(&buf); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"cut in the header", []byte{1, 0, 0}, io.ErrUnexpectedEOF},
		{"cut in the payload", []byte{1, 0, 0, 0, 5, 'a'}, io.ErrUnexpectedEOF},
	} {
		if _, _, err := readFrame(bytes.NewReader(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := readFrame(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff})); err == nil {
		t.Error("oversized frame accepted")
	}
}
