package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// logFigure is the agent's cost of copying one container's output into its
// log: the output's rate, and the agent's CPU (% of a core) meanwhile.
type logFigure struct {
	Lines       string  `json:"lines"`
	MB          float64 `json:"mb"`
	MBps        float64 `json:"mb_per_s"`
	AgentCPU    float64 `json:"agent_cpu_pct"`
	CPUPerMBps  float64 `json:"agent_cpu_pct_per_mb_per_s"`
	AgentRSSMiB float64 `json:"agent_rss_mib"`
}

// logging runs containers that write as fast as they can (busybox yes: 2-byte
// lines, the worst case, and 100-byte lines), a fixed amount each, and
// measures the agent's CPU from the container's start to its exit. The log
// is rotated at the defaults (10Mi, 5 files) meanwhile.
func (b *bench) logging(ctx context.Context) error {
	mb := 200
	if b.size.Runs < fullSize.Runs {
		mb = 50
	}
	for _, w := range []struct{ name, lines, text string }{
		{"log-short", "2-byte lines (yes)", "y"},
		{"log-long", "100-byte lines", fmt.Sprintf("%099d", 0)},
	} {
		cmd := fmt.Sprintf("yes %s | head -c %d", w.text, mb*1000*1000)
		p := pod(w.name, container("app", "sh", "-c", cmd))
		p.Spec.RestartPolicy = v1.RestartPolicyNever
		mark := b.tasks.mark()
		if _, err := b.apply(p); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		_, next, err := b.tasks.wait(wctx, mark, b.isStart(w.name, "app"))
		if err != nil {
			cancel()
			return fmt.Errorf("%s: %w", w.name, err)
		}
		s0, err := b.agent.sample()
		if err != nil {
			cancel()
			return err
		}
		_, _, err = b.tasks.wait(wctx, next, b.isExit(w.name, "app"))
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		s1, err := b.agent.sample()
		if err != nil {
			return err
		}
		secs := s1.At.Sub(s0.At).Seconds()
		cpu := cpuPercent(s0, s1)
		f := logFigure{Lines: w.lines, MB: float64(mb), MBps: round2(float64(mb) / secs), AgentCPU: round2(cpu), AgentRSSMiB: mib(s1.RSS)}
		f.CPUPerMBps = round2(cpu / f.MBps)
		b.res.Logging = append(b.res.Logging, f)
		b.log.Sugar().Infof("%s: %d MB at %.1f MB/s, agent CPU %.1f%% (%.2f%% per MB/s)", w.lines, mb, f.MBps, f.AgentCPU, f.CPUPerMBps)
		if _, err := b.deletePod(ctx, w.name); err != nil {
			return err
		}
	}
	return nil
}
