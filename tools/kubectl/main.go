// Command kubectl is upstream's kubectl, built from the k8s.io/kubectl
// module at the release of the project's k8s.io modules, for machines
// without a kubectl package: scripts/install.sh builds it when no kubectl
// is on PATH, so that scripts/lab-check and the README's kubectl steps work
// on a fresh machine. k8s.io/kubernetes/cmd/kubectl cannot be built as a
// dependency (its go.mod replaces the staging modules), so this is the same
// few lines of main over the same command. scripts/test also builds it at
// the oldest and newest k8s.io/kubectl of the skew policy, so it uses only
// what every one of them has.
//
// It is a module of its own, so the agent's module does not carry
// kubectl's dependencies.
package main

import (
	"os"
	"strings"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// klog's verbosity is needed while the command is being built (it
	// reads plugins and kuberc), before cobra parses -v. Upstream's main
	// reads it with cmd.GetLogVerbosity, which k8s.io/kubectl has only
	// since v0.34; 1.33's main did not set it early at all.
	_, _ = logs.GlogSetter(logVerbosity(os.Args))
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}

// logVerbosity returns the value of the first -v or --v flag in args (as
// "-v N" or "-v=N"), stopping at "--", or "0" when there is none.
func logVerbosity(args []string) string {
	for i, arg := range args {
		switch {
		case arg == "--":
			return "0"
		case arg == "-v" || arg == "--v":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(arg, "-v=") || strings.HasPrefix(arg, "--v="):
			if v := arg[strings.Index(arg, "=")+1:]; v != "" {
				return v
			}
		}
	}
	return "0"
}
