package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	mkruntime "github.com/minikubelet/minikubelet/runtime"
)

// Client talks to an agent's API socket. Errors the agent reports come back
// as *apierrors.StatusError, so apierrors.IsNotFound and friends work.
type Client struct {
	socket string
	http   *http.Client

	// OnWarning, when set, receives the text of each warning the agent
	// attaches to a response (problems with manifests, for instance).
	OnWarning func(text string)
}

// NewClient returns a client for the agent listening on socketPath. It does
// not connect until the first call.
func NewClient(socketPath string) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &Client{
		socket: socketPath,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", socketPath)
			},
			DisableCompression: true,
			MaxIdleConns:       4,
			IdleConnTimeout:    30 * time.Second,
		}},
	}
}

// ConnectError means the agent's socket could not be reached.
type ConnectError struct {
	Socket string
	Err    error
}

func (e *ConnectError) Error() string {
	if errors.Is(e.Err, syscall.ECONNREFUSED) || errors.Is(e.Err, syscall.ENOENT) {
		return fmt.Sprintf("The connection to the agent at %s was refused - is the agent running?", e.Socket)
	}
	return fmt.Sprintf("unable to connect to the agent at %s: %v", e.Socket, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// ListOptions narrows a pod list or watch, with the API server's syntax.
type ListOptions struct {
	LabelSelector string
	FieldSelector string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	return q
}

func podsPath(namespace string) string {
	if namespace == "" {
		return "/api/v1/pods"
	}
	return "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods"
}

func podPath(namespace, name string) string {
	return podsPath(namespace) + "/" + url.PathEscape(name)
}

// ListPods lists pods in namespace ("" for all namespaces).
func (c *Client) ListPods(ctx context.Context, namespace string, opts ListOptions) (*v1.PodList, error) {
	var list v1.PodList
	if err := c.getJSON(ctx, podsPath(namespace), opts.query(), &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// GetPod returns one pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*v1.Pod, error) {
	var pod v1.Pod
	if err := c.getJSON(ctx, podPath(namespace, name), nil, &pod); err != nil {
		return nil, err
	}
	return &pod, nil
}

// ListEvents lists events in namespace ("" for all), narrowed by a field
// selector such as "involvedObject.name=web".
func (c *Client) ListEvents(ctx context.Context, namespace, fieldSelector string) (*v1.EventList, error) {
	p := "/api/v1/events"
	if namespace != "" {
		p = "/api/v1/namespaces/" + url.PathEscape(namespace) + "/events"
	}
	q := url.Values{}
	if fieldSelector != "" {
		q.Set("fieldSelector", fieldSelector)
	}
	var list v1.EventList
	if err := c.getJSON(ctx, p, q, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// Version returns the agent's version.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	err := c.getJSON(ctx, "/version", nil, &v)
	return v, err
}

// Kubeconfig returns the admin kubeconfig of the agent's Kubernetes API.
func (c *Client) Kubeconfig(ctx context.Context) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "/kubeconfig", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// ApplyResult is the answer to an apply or delete: one kubectl-style line
// per object ("pod/web created", `pod "web" deleted`).
type ApplyResult struct {
	Results []string `json:"results"`
}

// Apply hands manifest bytes to the agent, stored under the file name name.
func (c *Client) Apply(ctx context.Context, name string, data []byte) ([]string, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	return c.postResults(ctx, "/apply", q, data)
}

// Delete removes the objects a manifest describes.
func (c *Client) Delete(ctx context.Context, data []byte) ([]string, error) {
	return c.postResults(ctx, "/delete", nil, data)
}

// DeletePod removes one pod by name.
func (c *Client) DeletePod(ctx context.Context, namespace, name string) ([]string, error) {
	return c.DeleteObject(ctx, "v1", "Pod", namespace, name)
}

// DeleteObject removes one object by kind and name; apiVersion may be
// empty (any group).
func (c *Client) DeleteObject(ctx context.Context, apiVersion, kind, namespace, name string) ([]string, error) {
	return c.DeleteObjectWithGrace(ctx, apiVersion, kind, namespace, name, -1)
}

// DeleteObjectWithGrace is DeleteObject with a grace period for a pod's
// termination, replacing its terminationGracePeriodSeconds (kubectl delete
// --grace-period); a negative one leaves the pod's.
func (c *Client) DeleteObjectWithGrace(ctx context.Context, apiVersion, kind, namespace, name string, gracePeriodSeconds int64) ([]string, error) {
	q := url.Values{"kind": {kind}, "namespace": {namespace}, "name": {name}}
	if apiVersion != "" {
		q.Set("apiVersion", apiVersion)
	}
	if gracePeriodSeconds >= 0 {
		q.Set("gracePeriodSeconds", strconv.FormatInt(gracePeriodSeconds, 10))
	}
	return c.postResults(ctx, "/delete", q, nil)
}

func (c *Client) postResults(ctx context.Context, path string, q url.Values, body []byte) ([]string, error) {
	resp, err := c.do(ctx, http.MethodPost, path, q, bytes.NewReader(body), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res ApplyResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return res.Results, nil
}

// PodEvent is one event of a pod watch.
type PodEvent struct {
	Type watch.EventType
	Pod  *v1.Pod
}

// PodWatcher reads a pod watch stream. Not safe for concurrent use.
type PodWatcher struct {
	body io.ReadCloser
	dec  *json.Decoder
}

// Next returns the next event. It returns io.EOF when the agent ended the
// watch (it shut down, or the watcher fell behind: list again).
func (w *PodWatcher) Next() (PodEvent, error) {
	var raw struct {
		Type   watch.EventType `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := w.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return PodEvent{}, err
	}
	if raw.Type == "ERROR" {
		var st metav1.Status
		if err := json.Unmarshal(raw.Object, &st); err != nil {
			return PodEvent{}, fmt.Errorf("decode watch error: %w", err)
		}
		return PodEvent{}, &apierrors.StatusError{ErrStatus: st}
	}
	var pod v1.Pod
	if err := json.Unmarshal(raw.Object, &pod); err != nil {
		return PodEvent{}, fmt.Errorf("decode watch event: %w", err)
	}
	return PodEvent{Type: raw.Type, Pod: &pod}, nil
}

// Close ends the watch.
func (w *PodWatcher) Close() error { return w.body.Close() }

// WatchOptions selects what a pod watch covers.
type WatchOptions struct {
	ListOptions
	// Name watches one pod.
	Name string
	// InitialEventsEnd asks for a BOOKMARK event, annotated with
	// InitialEventsEndAnnotation, after the ADDED events for the pods that
	// exist when the watch starts.
	InitialEventsEnd bool
}

// WatchPods watches pods in namespace ("" for all). The stream starts with
// ADDED for every pod that exists.
func (c *Client) WatchPods(ctx context.Context, namespace string, opts WatchOptions) (*PodWatcher, error) {
	q := opts.query()
	q.Set("watch", "true")
	if opts.InitialEventsEnd {
		q.Set("sendInitialEvents", "true")
		q.Set("allowWatchBookmarks", "true")
	}
	p := podsPath(namespace)
	if opts.Name != "" {
		p = podPath(namespace, opts.Name)
	}
	resp, err := c.do(ctx, http.MethodGet, p, q, nil, nil)
	if err != nil {
		return nil, err
	}
	return &PodWatcher{body: resp.Body, dec: json.NewDecoder(resp.Body)}, nil
}

// LogOptions are kubectl logs' options.
type LogOptions struct {
	Container  string
	Previous   bool
	Follow     bool
	Timestamps bool
	TailLines  *int64
	// SinceSeconds and SinceTime are exclusive.
	SinceSeconds *int64
	SinceTime    *time.Time
	LimitBytes   *int64
}

// Logs copies a container's log to w until it ends (with Follow: until the
// container instance exits or ctx ends).
func (c *Client) Logs(ctx context.Context, namespace, name string, opts LogOptions, w io.Writer) error {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	setBool := func(k string, v bool) {
		if v {
			q.Set(k, "true")
		}
	}
	setInt := func(k string, v *int64) {
		if v != nil {
			q.Set(k, strconv.FormatInt(*v, 10))
		}
	}
	setBool("previous", opts.Previous)
	setBool("follow", opts.Follow)
	setBool("timestamps", opts.Timestamps)
	setInt("tailLines", opts.TailLines)
	setInt("sinceSeconds", opts.SinceSeconds)
	setInt("limitBytes", opts.LimitBytes)
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	resp, err := c.do(ctx, http.MethodGet, podPath(namespace, name)+"/log", q, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return nil
}

// do sends a request and returns the response when its status is 2xx (or
// 101), else the agent's error. The caller closes the body.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, hdr http.Header) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: "minikubelet", Path: path}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return nil, &ConnectError{Socket: c.socket, Err: err}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.OnWarning != nil {
		for _, v := range resp.Header.Values(warningHeader) {
			if text, ok := parseWarning(v); ok {
				c.OnWarning(text)
			}
		}
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

// decodeError turns an error response into a *apierrors.StatusError.
func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := string(bytes.TrimSpace(data))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    int32(resp.StatusCode),
		Reason:  reasonForCode(resp.StatusCode),
		Message: msg,
	}}
}

// ExecOptions describe an exec.
type ExecOptions struct {
	Container string
	Command   []string
	// Stdin, when set, is copied to the process; its EOF closes the
	// process's stdin.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // unused with TTY: the terminal merges both
	TTY    bool
	// Resize, with TTY, delivers terminal size changes.
	Resize <-chan mkruntime.TerminalSize
}

// Exec runs a command in a container and returns its exit code. An error
// means the command could not be run or the stream broke; a non-zero exit
// code is not an error.
func (c *Client) Exec(ctx context.Context, namespace, name string, opts ExecOptions) (int32, error) {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	for _, a := range opts.Command {
		q.Add("command", a)
	}
	q.Set("stdout", "true")
	if opts.Stdin != nil {
		q.Set("stdin", "true")
	}
	if opts.TTY {
		q.Set("tty", "true")
	} else {
		q.Set("stderr", "true")
	}
	return c.stream(ctx, "exec", namespace, name, q, opts)
}

// AttachOptions describe an attach (kubectl attach).
type AttachOptions struct {
	Container string
	// Stdin, when set, is copied to the container's stdin (if it has one).
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// TTY says the container has a terminal: its output comes on Stdout
	// only, and Resize delivers size changes.
	TTY    bool
	Resize <-chan mkruntime.TerminalSize
}

// Attach connects to a running container's stdio until the container
// exits, ctx ends, or the agent ends the session (stdin ended).
func (c *Client) Attach(ctx context.Context, namespace, name string, opts AttachOptions) error {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	q.Set("stdout", "true")
	if opts.Stdin != nil {
		q.Set("stdin", "true")
	}
	if opts.TTY {
		q.Set("tty", "true")
	} else {
		q.Set("stderr", "true")
	}
	_, err := c.stream(ctx, "attach", namespace, name, q, ExecOptions{
		Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY, Resize: opts.Resize,
	})
	return err
}

// stream runs a streaming request (exec, attach) on an upgraded connection.
func (c *Client) stream(ctx context.Context, verb, namespace, name string, q url.Values, opts ExecOptions) (int32, error) {
	hdr := http.Header{"Connection": {"Upgrade"}, "Upgrade": {ExecUpgradeProtocol}}
	resp, err := c.do(ctx, http.MethodPost, podPath(namespace, name)+"/"+verb, q, nil, hdr)
	if err != nil {
		return 0, err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		resp.Body.Close()
		return 0, fmt.Errorf("%s in pod %s: the agent did not upgrade the connection (%s)", verb, name, resp.Status)
	}
	defer rwc.Close()
	return execSession(ctx, rwc, opts)
}

// execSession relays stdin and resizes to the server and its output frames
// to opts' writers until the exit frame.
func execSession(ctx context.Context, conn io.ReadWriteCloser, opts ExecOptions) (int32, error) {
	fw := &frameWriter{w: conn}
	done := make(chan struct{})
	defer close(done)
	// Closing the connection is the only way to interrupt the frame read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if opts.Stdin != nil {
		go func() {
			buf := make([]byte, 32*1024)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 {
					if fw.writeFrame(ChanStdin, buf[:n]) != nil {
						return
					}
				}
				if err != nil {
					_ = fw.writeFrame(ChanCloseStdin, nil)
					return
				}
			}
		}()
	}
	if opts.TTY && opts.Resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					payload, _ := json.Marshal(sz)
					if fw.writeFrame(ChanResize, payload) != nil {
						return
					}
				}
			}
		}()
	}

	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		ch, payload, err := readFrame(conn)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("exec stream ended before the command's exit status: %w", err)
		}
		switch ch {
		case ChanStdout:
			if _, err := stdout.Write(payload); err != nil {
				return 0, fmt.Errorf("write exec output: %w", err)
			}
		case ChanStderr:
			if _, err := stderr.Write(payload); err != nil {
				return 0, fmt.Errorf("write exec output: %w", err)
			}
		case ChanExit:
			var st ExitStatus
			if err := json.Unmarshal(payload, &st); err != nil {
				return 0, fmt.Errorf("decode exec exit status: %w", err)
			}
			if st.Error != "" {
				return st.Code, errors.New(st.Error)
			}
			return st.Code, nil
		}
	}
}

func reasonForCode(code int) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusMethodNotAllowed:
		return metav1.StatusReasonMethodNotAllowed
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusUnprocessableEntity:
		return metav1.StatusReasonInvalid
	case http.StatusServiceUnavailable:
		return metav1.StatusReasonServiceUnavailable
	case http.StatusInternalServerError:
		return metav1.StatusReasonInternalError
	}
	return metav1.StatusReasonUnknown
}
