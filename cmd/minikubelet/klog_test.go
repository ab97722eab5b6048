package main

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
)

// What the Kubernetes libraries log through klog reaches the agent's zap
// logger, with its level and fields, and klog is put back afterwards.
func TestRouteKlog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	restore := routeKlog(zap.New(core))
	klog.InfoS("stream opened", "pod", "default/web")
	// apimachinery's HandleError, as the streaming server calls it.
	utilruntime.HandleError(errors.New("connection reset"))
	klog.V(4).InfoS("verbose detail")
	restore()
	klog.InfoS("after restore")

	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("entries: %+v", entries)
	}
	info, fail := entries[0], entries[1]
	if info.LoggerName != "klog" || info.Level != zapcore.InfoLevel || info.Message != "stream opened" || info.ContextMap()["pod"] != "default/web" {
		t.Errorf("info entry: %+v", info)
	}
	if fail.LoggerName != "klog" || fail.Level != zapcore.ErrorLevel || fail.ContextMap()["error"] != "connection reset" {
		t.Errorf("error entry: %+v %v", fail, fail.ContextMap())
	}
}
