package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/agent"
)

// agentGCPercent is the agent's GOGC unless the environment sets one (the
// Go runtime reads GOGC and GOMEMLIMIT itself). The agent's live heap is
// small (about 10 MB with 100 pods) and its idle allocation rate low:
// against Go's 100 it held 3.5 MiB less with 100 pods for no CPU the bench
// could tell apart, where a 20 MiB GOMEMLIMIT cost 4 times the CPU per
// pod start (BENCHMARKS.md, "Agent memory").
const agentGCPercent = 50

// agentRunner is agent.Run, or a fake in tests.
type agentRunner func(ctx context.Context, log *zap.Logger, cfg agent.Config, version string) error

type agentOptions struct {
	IOStreams
	configFile string
	// flags holds the flag values; only the flags set on the command line
	// are laid over the defaults and the --config file.
	flags agent.Config
	fs    *pflag.FlagSet
	run   agentRunner
}

// agentFlagKeys maps each flag of `minikubelet agent` to its key in the
// YAML config file (the agent.Config JSON tag).
var agentFlagKeys = map[string]string{
	"manifests":       "manifests",
	"root":            "root",
	"socket":          "socket",
	"containerd":      "containerd",
	"namespace":       "namespace",
	"cgroup-root":     "cgroupRoot",
	"node-name":       "nodeName",
	"pod-cidr":        "podCIDR",
	"cni-bin-dir":     "cniBinDir",
	"images":          "images",
	"log-dir":         "logDir",
	"log-level":       "logLevel",
	"bridge":          "bridge",
	"ip-masq":         "ipMasq",
	"service-cidr":    "serviceCIDR",
	"cluster-dns":     "clusterDNS",
	"cluster-domain":  "clusterDomain",
	"pause-binary":    "pauseBinary",
	"resync-period":   "resyncPeriod",
	"manifest-rescan": "manifestRescan",
	"offline":         "offline",
	"api-address":     "apiAddress",

	"container-log-max-size":  "containerLogMaxSize",
	"container-log-max-files": "containerLogMaxFiles",
	"max-pods":                "maxPods",

	"max-container-restart-period": "crashLoopBackOff.maxContainerRestartPeriod",
	"crashloop-reduced-decay":      "crashLoopBackOff.reducedDecay",
}

func newAgentCommand(streams IOStreams, run agentRunner) *cobra.Command {
	o := &agentOptions{IOStreams: streams, flags: agent.DefaultConfig(), run: run}
	cmd := &cobra.Command{
		Use:   "agent [flags]",
		Short: "Run the node agent",
		Long: `Run the node agent: it runs the pods of the manifests directory on containerd
and serves the API the other commands use. Every flag can also be set in the
YAML file given with --config; flags given on the command line win.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.execute(cmd.Context(), cmd.Name())
		},
	}
	f := cmd.Flags()
	c := &o.flags
	f.StringVar(&o.configFile, "config", "", "YAML file with the agent's configuration")
	f.StringVar(&c.Manifests, "manifests", c.Manifests, "directory of pod manifests")
	f.StringVar(&c.Root, "root", c.Root, "state directory")
	f.StringVar(&c.Socket, "socket", c.Socket, "API socket (mode 0600)")
	f.StringVar(&c.APIAddress, "api-address", c.APIAddress, "host:port of the Kubernetes API for kubectl (HTTPS, client certificates; \"\" turns it off; a non-loopback address exposes it to the network)")
	f.StringVar(&c.Containerd, "containerd", c.Containerd, "containerd socket; when nothing answers there, the agent runs its own containerd under --root")
	f.StringVar(&c.Namespace, "namespace", c.Namespace, "containerd namespace of the pods' containers")
	f.StringVar(&c.CgroupRoot, "cgroup-root", c.CgroupRoot, "cgroup the pod cgroups are made under (default /minikubelet/<namespace>)")
	f.StringVar(&c.NodeName, "node-name", c.NodeName, "node name (default: the hostname)")
	f.StringVar(&c.PodCIDR, "pod-cidr", c.PodCIDR, "subnet of pod IPs")
	f.StringVar(&c.CNIBinDir, "cni-bin-dir", c.CNIBinDir, "colon-separated directories searched for CNI plugins")
	f.StringVar(&c.Images, "images", c.Images, "directory of image tarballs imported at start (default: <root>/images)")
	f.StringVar(&c.LogDir, "log-dir", c.LogDir, "root of the containers' log files")
	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	f.StringVar(&c.Bridge, "bridge", c.Bridge, "Linux bridge the pods attach to")
	f.BoolVar(&c.IPMasq, "ip-masq", c.IPMasq, "masquerade pod traffic leaving the pod network")
	f.StringVar(&c.ServiceCIDR, "service-cidr", c.ServiceCIDR, "subnet of service ClusterIPs")
	f.StringSliceVar(&c.ClusterDNS, "cluster-dns", c.ClusterDNS, "DNS server IPs given to pods")
	f.StringVar(&c.ClusterDomain, "cluster-domain", c.ClusterDomain, "cluster DNS domain")
	f.StringVar(&c.ResolvConf, "resolv-conf", c.ResolvConf, `node resolver file pods with dnsPolicy "Default" use ("" for none)`)
	f.StringSliceVar(&c.AllowedUnsafeSysctls, "allowed-unsafe-sysctls", c.AllowedUnsafeSysctls, "unsafe sysctls (or prefixes ending in '*') pods may set beyond the safe set")
	f.StringVar(&c.PauseBinary, "pause-binary", c.PauseBinary, "pause program turned into the sandbox image")
	f.DurationVar(&c.ResyncPeriod, "resync-period", c.ResyncPeriod, "how often each pod worker re-checks containerd without an event")
	f.DurationVar(&c.ManifestRescan, "manifest-rescan", c.ManifestRescan, "how often the manifest directory is listed again without an event")
	f.BoolVar(&c.Offline, "offline", c.Offline, "never contact a remote registry: imported images satisfy imagePullPolicy Always")
	f.Var(durationPtr{&c.CrashLoopBackOff.MaxContainerRestartPeriod}, "max-container-restart-period", "cap of the crash-loop restart back-off, 1s to 300s (default 5m0s)")
	f.StringVar(&c.ContainerLogMaxSize, "container-log-max-size", c.ContainerLogMaxSize, "size at which a container's log file is rotated, a quantity such as 10Mi")
	f.IntVar(&c.ContainerLogMaxFiles, "container-log-max-files", c.ContainerLogMaxFiles, "most files a container's log keeps, the live one included (at least 2)")
	f.IntVar(&c.MaxPods, "max-pods", c.MaxPods, "how many pods the node admits; one more is rejected with OutOfpods")
	f.BoolVar(&c.CrashLoopBackOff.ReducedDecay, "crashloop-reduced-decay", c.CrashLoopBackOff.ReducedDecay, "crash-loop back-off from 1s up to 60s instead of 10s up to 300s")
	o.fs = f
	return cmd
}

func (o *agentOptions) execute(ctx context.Context, name string) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, o.ErrOut)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr cannot be synced on some systems
	defer routeKlog(log)()
	log.Info("starting "+name, zap.String("version", version))
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(agentGCPercent)
	}
	// A failure is reported once, as one "error: …" line (handleError), not
	// as a log entry with a stack trace: it is the user's to read and fix.
	return o.run(ctx, log, cfg, version)
}

// config returns the defaults, overlaid by the --config file, overlaid by
// the flags given on the command line.
func (o *agentOptions) config() (agent.Config, error) {
	cfg := agent.DefaultConfig()
	if o.configFile != "" {
		if err := loadConfigFile(o.configFile, &cfg); err != nil {
			return cfg, err
		}
	}
	// Encode the flag values and keep those of the flags that were set, so
	// a flag wins over the file only when it was given.
	all, err := json.Marshal(&o.flags)
	if err != nil {
		return cfg, err
	}
	var values map[string]any
	if err := json.Unmarshal(all, &values); err != nil {
		return cfg, err
	}
	overlay := map[string]any{}
	o.fs.Visit(func(f *pflag.Flag) {
		path, ok := agentFlagKeys[f.Name]
		if !ok {
			return
		}
		keys := strings.Split(path, ".")
		src, dst := values, overlay
		for _, k := range keys[:len(keys)-1] {
			src, _ = src[k].(map[string]any)
			next, ok := dst[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				dst[k] = next
			}
			dst = next
		}
		dst[keys[len(keys)-1]] = src[keys[len(keys)-1]]
	})
	if len(overlay) > 0 {
		data, err := json.Marshal(overlay)
		if err != nil {
			return cfg, err
		}
		// Decoding into the filled struct changes only the keys present.
		if err := json.Unmarshal(data, &cfg); err != nil {
			return cfg, fmt.Errorf("apply agent flags: %w", err)
		}
	}
	return cfg, nil
}

// loadConfigFile reads the YAML config file over cfg. Unknown keys are
// errors (a typo must not pass silently), and the plain time.Duration
// fields accept "10s" strings as well as nanoseconds.
func loadConfigFile(path string, cfg *agent.Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read agent config: %w", err)
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	if doc == nil {
		return nil // empty file
	}
	t := reflect.TypeOf(*cfg)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		s, isString := doc[key].(string)
		if f.Type != reflect.TypeOf(time.Duration(0)) || !isString {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("agent config %s: %s: %w", path, key, err)
		}
		doc[key] = int64(d)
	}
	j, err = json.Marshal(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return fmt.Errorf("agent config %s: %w", path, err)
	}
	return nil
}

// durationPtr is a flag for an optional *agent.Duration.
type durationPtr struct{ p **agent.Duration }

func (d durationPtr) String() string {
	if d.p == nil || *d.p == nil {
		return ""
	}
	return (*d.p).Duration.String()
}

func (d durationPtr) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d.p = &agent.Duration{Duration: v}
	return nil
}

func (d durationPtr) Type() string { return "duration" }

// newLogger returns the agent's logger: human-readable lines on w at level.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	// Stack traces only for what is a bug (DPanic and above): an error the
	// agent logs is about the node or the pods, and a trace hides it.
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel)), nil
}

// routeKlog sends what the Kubernetes libraries log through klog (client-go,
// apimachinery's HandleError, the kubelet's streaming server in
// k8s.io/kubelet) into the agent's logger, named "klog", instead of klog's
// own differently formatted lines on stderr. klog's verbosity stays at 0, so
// only what those libraries log unconditionally comes through: their info
// lines at Info, errors at Error with the error. klog's logger is
// process-wide; the function returned puts klog back as it was.
func routeKlog(log *zap.Logger) (restore func()) {
	klog.SetLogger(zapr.NewLogger(log.Named("klog")))
	return func() {
		klog.Flush()
		klog.ClearLogger()
	}
}
