package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	v1 "k8s.io/api/core/v1"

	"github.com/minikubelet/minikubelet/logs"
)

// The kubelet's limits on termination messages (pkg/kubelet/container).
const (
	// maxTerminationMessage is what is read of a termination log: its
	// last 4 KiB.
	maxTerminationMessage = 4 << 10
	// maxTerminationLogBytes and maxTerminationLogLines bound the message
	// taken from the container's log under FallbackToLogsOnError: the last
	// 80 lines, of which the last 2 KiB.
	maxTerminationLogBytes = 2 << 10
	maxTerminationLogLines = 80
)

// terminationMessage is what the kubelet appends to an exited container's
// message (kuberuntime getTerminationMessage and its caller): the tail of
// the termination log; or, with terminationMessagePolicy
// FallbackToLogsOnError, when the container failed and left that file
// empty or missing, the tail of its log. A container that never started
// (StartError, kubelet's ContainerCannotRun) has no log to fall back on.
func terminationMessage(ctx context.Context, l map[string]string, exitCode int32, reason string) string {
	fallback := l[LabelTerminationMessagePolicy] == string(v1.TerminationMessageFallbackToLogsOnError) &&
		exitCode != 0 && reason != reasonStartError
	msg, useLogs := readTerminationLog(l[LabelTerminationLog], fallback)
	if useLogs {
		msg = lastLogLines(ctx, l[LabelLogPath])
	}
	return msg
}

// readTerminationLog reads the last 4 KiB of the termination log at path.
// The bool asks for the log instead: fallback is set and the file is
// missing or empty.
func readTerminationLog(path string, fallback bool) (string, bool) {
	if path == "" {
		return "", fallback
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fallback
	}
	if err != nil {
		return fmt.Sprintf("Error on reading termination log %s: %v", path, err), false
	}
	defer f.Close()
	data, err := readTail(f, maxTerminationMessage)
	if err != nil {
		return fmt.Sprintf("Error on reading termination log %s: %v", path, err), false
	}
	return string(data), fallback && len(data) == 0
}

// readTail returns the last max bytes of f.
func readTail(f *os.File, max int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off := st.Size() - max; off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// lastLogLines returns the content of the last 80 records of the CRI log
// at path, cut to their last 2 KiB.
func lastLogLines(ctx context.Context, path string) string {
	buf := &tailBuffer{max: maxTerminationLogBytes}
	if err := logs.Read(ctx, path, logs.ReadOptions{TailLines: maxTerminationLogLines}, buf, nil); err != nil {
		return fmt.Sprintf("Error on reading termination message from logs: %v", err)
	}
	return string(buf.b)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.b = append(t.b[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.b) + len(p) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	t.b = append(t.b, p...)
	return n, nil
}
