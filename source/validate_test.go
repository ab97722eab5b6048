package source

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podYAML builds a manifest: the metadata lines, then spec lines (each
// indented by the caller relative to "spec:").
func podYAML(meta, spec string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n" + meta + "spec:\n" + spec
}

const (
	metaWeb = "  name: web\n"
	appC    = "  containers:\n  - {name: web, image: nginx}\n"
)

const (
	dns1123SubdomainMsg = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
	dns1123LabelMsg     = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
)

func TestValidation(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string // without the "manifests/bad.yaml: " prefix
	}{
		// metadata
		{"name required", podYAML("  labels: {a: b}\n", appC),
			[]string{`metadata.name: Required value: name or generateName is required`}},
		{"name is a DNS-1123 subdomain", podYAML("  name: Web_1\n", appC),
			[]string{`metadata.name: Invalid value: "Web_1": ` + dns1123SubdomainMsg}},
		{"name may not be a path", podYAML("  name: ../etc\n", appC),
			[]string{`metadata.name: Invalid value: "../etc": ` + dns1123SubdomainMsg}},
		{"name may not hold a separator", podYAML("  name: a/b\n", appC),
			[]string{`metadata.name: Invalid value: "a/b": ` + dns1123SubdomainMsg}},
		{"namespace is a DNS-1123 label", podYAML("  name: web\n  namespace: team.a\n", appC),
			[]string{`metadata.namespace: Invalid value: "team.a": must not contain dots`}},
		{"namespace may not be ..", podYAML("  name: web\n  namespace: ..\n", appC),
			[]string{`metadata.namespace: Invalid value: "..": ` + dns1123LabelMsg}},
		{"labels", podYAML("  name: web\n  labels: {'a b': c}\n", appC),
			[]string{`metadata.labels: Invalid value: "a b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},

		// containers
		{"at least one container", podYAML(metaWeb, "  restartPolicy: Never\n"),
			[]string{`spec.containers: Required value`}},
		{"image required", podYAML(metaWeb, "  containers:\n  - {name: a, image: nginx}\n  - {name: b}\n"),
			[]string{`spec.containers[1].image: Required value`}},
		{"image without surrounding space", podYAML(metaWeb, "  containers:\n  - {name: a, image: 'nginx '}\n"),
			[]string{`spec.containers[0].image: Invalid value: "nginx ": must not have leading or trailing whitespace`}},
		{"container name required", podYAML(metaWeb, "  containers:\n  - {image: nginx}\n"),
			[]string{`spec.containers[0].name: Required value`}},
		{"container name is a DNS-1123 label", podYAML(metaWeb, "  containers:\n  - {name: Web, image: nginx}\n"),
			[]string{`spec.containers[0].name: Invalid value: "Web": ` + dns1123LabelMsg}},
		{"container name may not be a path", podYAML(metaWeb, "  containers:\n  - {name: ../x, image: nginx}\n"),
			[]string{`spec.containers[0].name: Invalid value: "../x": ` + dns1123LabelMsg}},
		{"container names unique", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx}\n  - {name: web, image: nginx}\n"),
			[]string{`spec.containers[1].name: Duplicate value: "web"`}},
		{"container names unique across init and app", podYAML(metaWeb, appC+"  initContainers:\n  - {name: web, image: busybox}\n"),
			[]string{`spec.initContainers[0].name: Duplicate value: "web"`}},
		{"init container names unique", podYAML(metaWeb, appC+"  initContainers:\n  - {name: i, image: busybox}\n  - {name: i, image: busybox}\n"),
			[]string{`spec.initContainers[1].name: Duplicate value: "i"`}},
		{"pull policy", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, imagePullPolicy: Sometimes}\n"),
			[]string{`spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`}},
		{"restartPolicy", podYAML(metaWeb, appC+"  restartPolicy: Sometimes\n"),
			[]string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{"init container restartPolicy", podYAML(metaWeb, appC+"  initContainers:\n  - {name: i, image: busybox, restartPolicy: Never}\n"),
			[]string{`spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"`}},
		{"app container restartPolicy", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, restartPolicy: Always}\n"),
			[]string{`spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers`}},
		{"requests within limits", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}}\n"),
			[]string{`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`}},

		// ports
		{"port required", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{name: http}]}\n"),
			[]string{`spec.containers[0].ports[0].containerPort: Required value`}},
		{"port range", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{containerPort: 70000}, {containerPort: -1}]}\n"),
			[]string{
				`spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`,
				`spec.containers[0].ports[1].containerPort: Invalid value: -1: must be between 1 and 65535, inclusive`,
			}},
		{"hostPort range", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{containerPort: 80, hostPort: 65536}]}\n"),
			[]string{`spec.containers[0].ports[0].hostPort: Invalid value: 65536: must be between 1 and 65535, inclusive`}},
		{"port names unique", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{name: http, containerPort: 80}, {name: http, containerPort: 81}]}\n"),
			[]string{`spec.containers[0].ports[1].name: Duplicate value: "http"`}},
		{"port names are IANA_SVC_NAMEs", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{name: HTTP_1, containerPort: 80}, {name: '1234', containerPort: 81}]}\n"),
			[]string{
				`spec.containers[0].ports[0].name: Invalid value: "HTTP_1": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
				`spec.containers[0].ports[0].name: Invalid value: "HTTP_1": must contain at least one letter (a-z)`,
				`spec.containers[0].ports[1].name: Invalid value: "1234": must contain at least one letter (a-z)`,
			}},
		{"port protocol", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{containerPort: 80, protocol: HTTP}]}\n"),
			[]string{`spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`}},
		{"host ports unique", podYAML(metaWeb, "  containers:\n  - {name: a, image: nginx, ports: [{containerPort: 80, hostPort: 8080}]}\n  - {name: b, image: nginx, ports: [{containerPort: 81, hostPort: 8080}]}\n"),
			[]string{`spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`}},

		// env
		{"env name required", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{value: x}]}\n"),
			[]string{`spec.containers[0].env[0].name: Required value`}},
		{"env name", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: 'A=B'}, {name: 'my.var-1'}]}\n"),
			[]string{`spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`}},
		{"env fieldRef path", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.foo}}}]}\n"),
			[]string{`spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.foo": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`}},
		{"env value and valueFrom", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}\n"),
			[]string{"spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"}},
		{"env from a ConfigMap: key required", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: A, valueFrom: {configMapKeyRef: {name: c}}}]}\n"),
			[]string{`spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value`}},
		{"env from a Secret: key name", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: 'a b'}}}]}\n"),
			[]string{`spec.containers[0].env[0].valueFrom.secretKeyRef.key: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`}},
		{"env from a ConfigMap: name", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: A, valueFrom: {configMapKeyRef: {name: C_1, key: k}}}]}\n"),
			[]string{`spec.containers[0].env[0].valueFrom.configMapKeyRef.name: Invalid value: "C_1": ` + dns1123SubdomainMsg}},
		{"envFrom: name required", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, envFrom: [{secretRef: {}}]}\n"),
			[]string{`spec.containers[0].envFrom[0].secretRef.name: Required value`}},
		{"envFrom: one source", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, envFrom: [{prefix: 'A='}]}\n"),
			[]string{
				`spec.containers[0].envFrom[0].prefix: Invalid value: "A=": a valid environment variable name must consist only of printable ASCII characters other than '='`,
				"spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
			}},
		{"envFrom: not two sources", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, envFrom: [{configMapRef: {name: c}, secretRef: {name: s}}]}\n"),
			[]string{`spec.containers[0].envFrom: Invalid value: "": may not have more than one field specified at a time`}},

		// volumes
		{"volume names unique", podYAML(metaWeb, appC+"  volumes: [{name: data}, {name: data}]\n"),
			[]string{`spec.volumes[1].name: Duplicate value: "data"`}},
		{"volume name is a DNS-1123 label", podYAML(metaWeb, appC+"  volumes: [{name: ../data}]\n"),
			[]string{`spec.volumes[0].name: Invalid value: "../data": ` + dns1123LabelMsg}},
		{"volume name required", podYAML(metaWeb, appC+"  volumes: [{emptyDir: {}}]\n"),
			[]string{`spec.volumes[0].name: Required value`}},
		{"mount of an undefined volume", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, volumeMounts: [{name: nope, mountPath: /data}]}\n"),
			[]string{`spec.containers[0].volumeMounts[0].name: Not found: "nope"`}},
		{"mount path absolute and unique", podYAML(metaWeb, "  volumes: [{name: d}]\n  containers:\n  - {name: web, image: nginx, volumeMounts: [{name: d, mountPath: data}, {name: d, mountPath: data}]}\n"),
			[]string{
				`spec.containers[0].volumeMounts[0].mountPath: Invalid value: "data": must be an absolute path`,
				`spec.containers[0].volumeMounts[1].mountPath: Invalid value: "data": must be an absolute path`,
				`spec.containers[0].volumeMounts[1].mountPath: Invalid value: "data": must be unique`,
			}},
		{"mount path required", podYAML(metaWeb, "  volumes: [{name: d}]\n  containers:\n  - {name: web, image: nginx, volumeMounts: [{name: d}]}\n"),
			[]string{`spec.containers[0].volumeMounts[0].mountPath: Required value`}},
		{"subPath stays inside the volume", podYAML(metaWeb, "  volumes: [{name: d}]\n  containers:\n  - {name: web, image: nginx, volumeMounts: [{name: d, mountPath: /d, subPath: ../x}]}\n"),
			[]string{`spec.containers[0].volumeMounts.subPath: Invalid value: "../x": must not contain '..'`}},
		{"unsupported volume type", podYAML(metaWeb, appC+"  volumes: [{name: nf, nfs: {server: x, path: /x}}]\n"),
			[]string{`spec.volumes[0].nfs: Forbidden: volume type not supported by minikubelet`}},
		{"unsupported volume type, mounted", podYAML(metaWeb, "  volumes: [{name: s, iscsi: {targetPortal: x, iqn: q, lun: 0}}]\n  containers:\n  - {name: web, image: nginx, volumeMounts: [{name: s, mountPath: /s}]}\n"),
			[]string{
				`spec.volumes[0].iscsi: Forbidden: volume type not supported by minikubelet`,
				`spec.containers[0].volumeMounts[0].name: Not found: "s"`,
			}},
		{"configMap volume", podYAML(metaWeb, appC+"  volumes: [{name: c, configMap: {defaultMode: 1000, items: [{key: '', path: ../x, mode: -1}, {key: k, path: ..a}]}}]\n"),
			[]string{
				`spec.volumes[0].configMap.name: Required value`,
				`spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive`,
				`spec.volumes[0].configMap.items[0].key: Required value`,
				`spec.volumes[0].configMap.items[0].path: Invalid value: "../x": must not contain '..'`,
				`spec.volumes[0].configMap.items[0].path: Invalid value: "../x": must not start with '..'`,
				`spec.volumes[0].configMap.items[0].mode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive`,
				`spec.volumes[0].configMap.items[1].path: Invalid value: "..a": must not start with '..'`,
			}},
		{"secret volume", podYAML(metaWeb, appC+"  volumes: [{name: s, secret: {items: [{key: k, path: /abs}]}}]\n"),
			[]string{
				`spec.volumes[0].secret.secretName: Required value`,
				`spec.volumes[0].secret.items[0].path: Invalid value: "/abs": must be a relative path`,
			}},
		{"downwardAPI volume", podYAML(metaWeb, appC+"  volumes: [{name: d, downwardAPI: {items: [{path: a, fieldRef: {fieldPath: spec.nodeName}}, {path: b, resourceFieldRef: {resource: limits.cpu}}, {path: c}]}}]\n"),
			[]string{
				`spec.volumes[0].downwardAPI.fieldRef.fieldPath: Unsupported value: "spec.nodeName": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"`,
				`spec.volumes[0].downwardAPI.resourceFieldRef.containerName: Required value`,
				`spec.volumes[0].downwardAPI: Required value: one of fieldRef and resourceFieldRef is required`,
			}},
		{"projected volume", podYAML(metaWeb, appC+"  volumes: [{name: p, projected: {sources: [{configMap: {name: c, items: [{key: a, path: x}]}}, {secret: {name: s, items: [{key: b, path: x}]}, downwardAPI: {items: [{path: yy, fieldRef: {fieldPath: metadata.name}}]}}, {serviceAccountToken: {path: t}}]}}]\n"),
			[]string{
				`spec.volumes[0].projected: Invalid value: "s": conflicting duplicate paths`,
				`spec.volumes[0].projected.sources[1]: Forbidden: may not specify more than 1 volume type per source`,
				`spec.volumes[0].projected.sources[2].serviceAccountToken: Forbidden: not supported by minikubelet`,
			}},
		{"one volume type", podYAML(metaWeb, appC+"  volumes: [{name: d, emptyDir: {}, hostPath: {path: /x}}]\n"),
			[]string{`spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type`}},
		{"hostPath path required", podYAML(metaWeb, appC+"  volumes: [{name: h, hostPath: {path: ''}}]\n"),
			[]string{`spec.volumes[0].hostPath.path: Required value`}},
		{"hostPath path absolute", podYAML(metaWeb, appC+"  volumes: [{name: h, hostPath: {path: var/log}}]\n"),
			[]string{`spec.volumes[0].hostPath.path: Invalid value: "var/log": must be an absolute path`}},
		{"hostPath without backsteps", podYAML(metaWeb, appC+"  volumes: [{name: h, hostPath: {path: /var/../etc}}]\n"),
			[]string{`spec.volumes[0].hostPath.path: Invalid value: "/var/../etc": must not contain '..'`}},
		{"hostPath type", podYAML(metaWeb, appC+"  volumes: [{name: h, hostPath: {path: /x, type: Dir}}]\n"),
			[]string{`spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"`}},
		{"emptyDir medium", podYAML(metaWeb, appC+"  volumes: [{name: d, emptyDir: {medium: HugePages}}]\n"),
			[]string{`spec.volumes[0].emptyDir.medium: Unsupported value: "HugePages": supported values: "", "Memory"`}},

		// probes
		{"probe needs a handler", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {periodSeconds: 5}}\n"),
			[]string{`spec.containers[0].livenessProbe: Required value: must specify a handler type`}},
		{"probe has one handler", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {exec: {command: [x]}, tcpSocket: {port: 80}}}\n"),
			[]string{`spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type`}},
		{"exec needs a command", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, readinessProbe: {exec: {}}}\n"),
			[]string{`spec.containers[0].readinessProbe.exec.command: Required value`}},
		{"no probes on init containers", podYAML(metaWeb, appC+"  initContainers:\n  - {name: i, image: busybox, readinessProbe: {exec: {command: [x]}}, livenessProbe: {exec: {command: [x]}}}\n"),
			[]string{
				`spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`,
				`spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`,
			}},
		{"sidecar probes are validated", podYAML(metaWeb, appC+"  initContainers:\n  - {name: i, image: busybox, restartPolicy: Always, startupProbe: {exec: {command: [x]}, successThreshold: 2}}\n"),
			[]string{`spec.initContainers[0].startupProbe.successThreshold: Invalid value: 2: must be 1`}},
		{"liveness successThreshold", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {exec: {command: [x]}, successThreshold: 3}}\n"),
			[]string{`spec.containers[0].livenessProbe.successThreshold: Invalid value: 3: must be 1`}},
		{"startup successThreshold", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, startupProbe: {exec: {command: [x]}, successThreshold: 2}}\n"),
			[]string{`spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1`}},
		{"no negatives", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, readinessProbe: {exec: {command: [x]}, initialDelaySeconds: -1, periodSeconds: -2, timeoutSeconds: -3, failureThreshold: -4, successThreshold: -5}}\n"),
			[]string{
				`spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0`,
				`spec.containers[0].readinessProbe.timeoutSeconds: Invalid value: -3: must be greater than or equal to 0`,
				`spec.containers[0].readinessProbe.periodSeconds: Invalid value: -2: must be greater than or equal to 0`,
				`spec.containers[0].readinessProbe.successThreshold: Invalid value: -5: must be greater than or equal to 0`,
				`spec.containers[0].readinessProbe.failureThreshold: Invalid value: -4: must be greater than or equal to 0`,
			}},
		{"httpGet port number", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, readinessProbe: {httpGet: {port: 0}}}\n"),
			[]string{`spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive`}},
		{"httpGet named port must exist", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{name: web, containerPort: 80}], readinessProbe: {httpGet: {port: http}}}\n"),
			[]string{`spec.containers[0].readinessProbe.httpGet.port: Not found: "http"`}},
		{"httpGet scheme", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, readinessProbe: {httpGet: {port: 80, scheme: FTP}}}\n"),
			[]string{`spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`}},
		{"tcpSocket port", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {tcpSocket: {port: 65536}}}\n"),
			[]string{`spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 65536: must be between 1 and 65535, inclusive`}},
		{"tcpSocket named port must exist", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {tcpSocket: {port: db}}}\n"),
			[]string{`spec.containers[0].livenessProbe.tcpSocket.port: Not found: "db"`}},
		{"grpc port", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {grpc: {port: 0}}}\n"),
			[]string{`spec.containers[0].livenessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive`}},
		{"grpc port is a number", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, livenessProbe: {grpc: {port: http}}}\n"),
			[]string{`json: cannot unmarshal string into Go struct field GRPCAction.spec.containers.livenessProbe.grpc.port of type int32`}},
		{"readiness probe grace period", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, readinessProbe: {exec: {command: [x]}, terminationGracePeriodSeconds: 5}}\n"),
			[]string{`spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes`}},
		{"preStop named port", podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, lifecycle: {preStop: {httpGet: {port: admin}}}}\n"),
			[]string{`spec.containers[0].lifecycle.preStop.httpGet.port: Not found: "admin"`}},
		{"sleep within the grace period", podYAML(metaWeb, "  terminationGracePeriodSeconds: 10\n  containers:\n  - {name: web, image: nginx, lifecycle: {preStop: {sleep: {seconds: 11}}}}\n"),
			[]string{`spec.containers[0].lifecycle.preStop.sleep: Invalid value: 11: must be non-negative and less than terminationGracePeriodSeconds (10)`}},

		// several problems are all reported
		{"every error of a document", podYAML("  name: Web\n", "  restartPolicy: Sometimes\n  containers:\n  - {name: a}\n  - {name: a, image: nginx, ports: [{containerPort: 0}]}\n"),
			[]string{
				`metadata.name: Invalid value: "Web": ` + dns1123SubdomainMsg,
				`spec.containers[0].image: Required value`,
				`spec.containers[1].ports[0].containerPort: Required value`,
				`spec.containers[1].name: Duplicate value: "a"`,
				`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, _, errs := ParseFile("manifests/bad.yaml", []byte(tt.manifest), node)
			if len(pods) != 0 {
				t.Errorf("an invalid pod was accepted")
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, "manifests/bad.yaml: "+w)
			}
			got := errStrings(errs)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}

func TestValidationAccepts(t *testing.T) {
	for name, manifest := range map[string]string{
		"named probe port": podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, ports: [{name: http, containerPort: 80}], livenessProbe: {httpGet: {port: http}}, readinessProbe: {tcpSocket: {port: http}, successThreshold: 3}}\n"),
		"sidecar probes":   podYAML(metaWeb, appC+"  initContainers:\n  - {name: proxy, image: envoy, restartPolicy: Always, readinessProbe: {grpc: {port: 9901}}}\n"),
		"volumes":          podYAML(metaWeb, "  volumes: [{name: d}, {name: m, emptyDir: {medium: Memory, sizeLimit: 64Mi}}, {name: h, hostPath: {path: /var/log, type: Directory}}]\n  containers:\n  - {name: web, image: nginx, volumeMounts: [{name: d, mountPath: /d}, {name: m, mountPath: /m}, {name: h, mountPath: /h, readOnly: true, subPath: nginx}]}\n"),
		"env":              podYAML(metaWeb, "  containers:\n  - {name: web, image: nginx, env: [{name: A, value: x}, {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}, {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory}}}]}\n"),
		"zero grace":       podYAML(metaWeb, appC+"  terminationGracePeriodSeconds: 0\n"),
		"dotted name":      podYAML("  name: web.v1\n  namespace: kube-system\n", appC),
	} {
		t.Run(name, func(t *testing.T) {
			parseOne(t, "ok.yaml", manifest)
		})
	}
}

func TestFileErrorUnwrapsFieldError(t *testing.T) {
	_, _, errs := ParseFile("bad.yaml", []byte(podYAML(metaWeb, "  containers:\n  - {name: web}\n")), node)
	if len(errs) != 1 {
		t.Fatalf("errors = %v", errs)
	}
	var fe *field.Error
	if !errors.As(errs[0], &fe) || fe.Field != "spec.containers[0].image" || fe.Type != field.ErrorTypeRequired {
		t.Errorf("errors.As(%v) = %+v", errs[0], fe)
	}
	if errs[0].Pod != "default/web" {
		t.Errorf("Pod = %q", errs[0].Pod)
	}
}
