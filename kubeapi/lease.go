package kubeapi

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node's Lease in kube-node-lease is the kubelet's heartbeat: held by
// the node, leaseDurationSeconds 40, renewed every quarter of that
// (pkg/kubelet/nodelease: renewInterval = 0.25 × duration).
const (
	leaseNamespace       = v1.NamespaceNodeLease
	leaseDurationSeconds = 40
	leaseRenewInterval   = leaseDurationSeconds * time.Second / 4
)

// nodeLease is the Lease of node renewed at renew, owned by the Node as
// the kubelet sets it.
func (s *Server) nodeLease(node Object, renew time.Time) *coordinationv1.Lease {
	name := node.GetName()
	return &coordinationv1.Lease{
		TypeMeta: metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: leaseNamespace, UID: nameUID("lease", name),
			CreationTimestamp: metav1.NewTime(s.started),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: name, UID: node.GetUID(),
			}},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       &name,
			LeaseDurationSeconds: ptrTo(int32(leaseDurationSeconds)),
			RenewTime:            &metav1.MicroTime{Time: renew},
		},
	}
}
