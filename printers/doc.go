// Package printers renders pods the way kubectl does: the `kubectl get pods`
// table (columns computed like the API server's printPod, laid out like
// kubectl's tab writer) and the `kubectl describe pod` text.
//
// Everything here is a pure function of k8s.io/api values and an explicit
// "now", so the output is reproducible in tests. The reference versions are
// Kubernetes / kubectl 1.34.
package printers
