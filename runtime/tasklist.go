package runtime

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
)

// taskIndex is the namespace's tasks as one TaskService.List returned
// them: each container's init process, by container ID. Reading every
// task of a namespace this way costs one round trip to containerd instead
// of one per container (each also a round trip to the container's shim,
// which containerd makes either way), which is what an agent that starts
// under a hundred pods waits for.
type taskIndex map[string]*tasktypes.Process

// listTasks reads the namespace's tasks in one call.
func (c *Containerd) listTasks(ctx context.Context) (taskIndex, error) {
	resp, err := c.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errdefs.FromGRPC(err))
	}
	idx := make(taskIndex, len(resp.Tasks))
	for _, p := range resp.Tasks {
		idx[p.ID] = p
	}
	return idx, nil
}

// process is taskProcess answered from idx when it holds id. containerd's
// listing leaves out a task it could not read (its shim gone or not
// answering) where a Get of that task fails instead, so a container missing
// from idx is asked for alone: the answer then is taskProcess's, whatever
// it is. A nil idx asks for every container alone.
func (c *Containerd) process(ctx context.Context, idx taskIndex, id string) (*tasktypes.Process, error) {
	if p, ok := idx[id]; ok {
		return p, nil
	}
	return c.taskProcess(ctx, id)
}
