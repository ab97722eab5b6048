// Command kubectl is upstream's kubectl, built from the k8s.io/kubectl
// module at the release of the project's k8s.io modules, for machines
// without a kubectl package: scripts/install.sh builds it when no kubectl
// is on PATH, so that scripts/lab-check and the README's kubectl steps work
// on a fresh machine. k8s.io/kubernetes/cmd/kubectl cannot be built as a
// dependency (its go.mod replaces the staging modules), so this is the same
// few lines of main over the same command.
//
// It is a module of its own, so the agent's module does not carry
// kubectl's dependencies.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	// klog's verbosity is needed while the command is being built (it
	// reads plugins and kuberc), before cobra parses -v.
	_, _ = logs.GlogSetter(cmd.GetLogVerbosity(os.Args))
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
