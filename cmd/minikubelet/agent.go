package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/yaml"

	"github.com/minikubelet/minikubelet/agent"
)

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
			return o.execute(cmd.Context())
		},
	}
	f := cmd.Flags()
	c := &o.flags
	f.StringVar(&o.configFile, "config", "", "YAML file with the agent's configuration")
	f.StringVar(&c.Manifests, "manifests", c.Manifests, "directory of pod manifests")
	f.StringVar(&c.Root, "root", c.Root, "state directory")
	f.StringVar(&c.Socket, "socket", c.Socket, "API socket (mode 0600)")
	f.StringVar(&c.Containerd, "containerd", c.Containerd, "containerd socket; when nothing answers there, the agent runs its own containerd under --root")
	f.StringVar(&c.Namespace, "namespace", c.Namespace, "containerd namespace of the pods' containers")
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
	f.StringVar(&c.PauseBinary, "pause-binary", c.PauseBinary, "pause program turned into the sandbox image")
	f.DurationVar(&c.ResyncPeriod, "resync-period", c.ResyncPeriod, "how often each pod worker re-checks containerd without an event")
	f.DurationVar(&c.ManifestRescan, "manifest-rescan", c.ManifestRescan, "how often the manifest directory is listed again without an event")
	o.fs = f
	return cmd
}

func (o *agentOptions) execute(ctx context.Context) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel, o.ErrOut)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr cannot be synced on some systems
	log.Info("starting agent", zap.String("version", version))
	if err := o.run(ctx, log, cfg, version); err != nil {
		log.Error("agent failed", zap.Error(err))
		return err
	}
	return nil
}

// config returns the defaults, overlaid by the --config file, overlaid by
// the flags given on the command line.
func (o *agentOptions) config() (agent.Config, error) {
	cfg := agent.DefaultConfig()
	if o.configFile != "" {
		data, err := os.ReadFile(o.configFile)
		if err != nil {
			return cfg, fmt.Errorf("read agent config: %w", err)
		}
		if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
			return cfg, fmt.Errorf("agent config %s: %w", o.configFile, err)
		}
	}
	// Encode the flag values and keep the keys of the flags that were set,
	// so a flag wins over the file only when it was given.
	all, err := json.Marshal(&o.flags)
	if err != nil {
		return cfg, err
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(all, &values); err != nil {
		return cfg, err
	}
	set := map[string]json.RawMessage{}
	o.fs.Visit(func(f *pflag.Flag) {
		if key, ok := agentFlagKeys[f.Name]; ok {
			set[key] = values[key]
		}
	})
	if len(set) > 0 {
		overlay, err := json.Marshal(set)
		if err != nil {
			return cfg, err
		}
		if err := json.Unmarshal(overlay, &cfg); err != nil {
			return cfg, fmt.Errorf("apply agent flags: %w", err)
		}
	}
	return cfg, nil
}

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
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)), nil
}
