#!/usr/bin/env bash
# Installs what minikubelet needs on Debian 12, builds it and the lab images,
# and then, with --run, runs the agent in the foreground on ./manifests or,
# with --service, installs and enables it as a systemd service. Safe to run
# again: it installs only what is missing and rebuilds in place.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<'EOF'
Usage: scripts/install.sh [--run | --service] [--test-deps]
       scripts/install.sh --uninstall

Installs the missing Debian packages (containerd, runc, CNI plugins, gcc,
...), a Go toolchain if there is none, and builds into bin/:
  bin/minikubelet          the agent and its kubectl-like CLI
  bin/minikubelet-pause    the pod sandbox program (C, static)
  bin/images/*.tar         the lab images: busybox, busyboxplus, myapp:v1, myapp:v2
and, when no kubectl 1.30+ is on PATH, upstream's kubectl (built from the
k8s.io/kubectl module) as bin/kubectl and /usr/local/bin/kubectl.

  --run        then run the agent in the foreground (Ctrl-C stops it) on
               ./manifests, state in /var/lib/minikubelet, the lab images
               imported from bin/images, offline (no registry contacted)
  --service    then install it as the systemd service minikubelet:
               /usr/local/bin/minikubelet, /usr/local/lib/minikubelet/pause,
               /etc/systemd/system/minikubelet.service,
               /etc/minikubelet/{config.yaml,manifests/,lab/},
               /var/lib/minikubelet/images/; enable and start it
  --test-deps  also install what the test suite needs (docker-registry)
  --uninstall  stop and remove the service, then `minikubelet cleanup`: every
               pod stopped and everything the agent created on the host
               removed (containers, images, netns, bridge, nftables table,
               Services' interface, state); then the installed files.
               /etc/minikubelet (your configuration and manifests) stays.
EOF
}

ROOT_DIR=/var/lib/minikubelet
mode=
test_deps=
while [[ $# -gt 0 ]]; do
	case $1 in
	--run | --service | --uninstall)
		[[ -z $mode || $mode == "${1#--}" ]] || die "--run, --service and --uninstall exclude each other"
		mode=${1#--}
		;;
	--test-deps) test_deps=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
	shift
done

need_root
export DEBIAN_FRONTEND=noninteractive

# uninstall stops the service and removes what --service installed and
# everything the agent created; the packages and /etc/minikubelet stay.
uninstall() {
	if systemd_running && systemctl cat minikubelet.service >/dev/null 2>&1; then
		systemctl disable --now minikubelet.service || true
	fi
	local bin=/usr/local/bin/minikubelet config=()
	[[ -x $bin ]] || bin=$REPO/bin/minikubelet
	[[ ! -e /etc/minikubelet/config.yaml ]] || config=(--config /etc/minikubelet/config.yaml)
	if [[ -x $bin ]]; then
		# It refuses (and changes nothing) while an agent still runs.
		"$bin" cleanup "${config[@]}" || die "minikubelet cleanup failed: stop the agent and run it again"
	else
		log "no minikubelet binary: nothing the agent created can be removed"
	fi
	rm -f /etc/systemd/system/minikubelet.service /usr/local/bin/minikubelet
	rm -rf /usr/local/lib/minikubelet "$ROOT_DIR"
	if systemd_running; then
		systemctl daemon-reload
	fi
	log "minikubelet uninstalled; /etc/minikubelet (configuration and manifests) was kept"
}
if [[ $mode == uninstall ]]; then
	uninstall
	exit 0
fi

apt_install "${RUNTIME_PACKAGES[@]}" "${BUILD_PACKAGES[@]}"
if [[ -n $test_deps ]]; then
	apt_install_nostart "${TEST_PACKAGES[@]}"
fi
ensure_go
build
ensure_kubectl

# install_service installs the binaries, the unit, the configuration, the
# manifests and the images, and starts the service when systemd runs.
install_service() {
	install -D -m 0755 "$REPO/bin/minikubelet" /usr/local/bin/minikubelet
	install -D -m 0755 "$REPO/bin/minikubelet-pause" /usr/local/lib/minikubelet/pause
	install -D -m 0644 "$REPO/scripts/minikubelet.service" /etc/systemd/system/minikubelet.service
	install -d -m 0755 /etc/minikubelet /etc/minikubelet/manifests /etc/minikubelet/lab
	install -d -m 0700 "$ROOT_DIR"
	install -d -m 0755 "$ROOT_DIR/images"
	install -m 0644 "$REPO"/bin/images/*.tar "$ROOT_DIR/images/"

	# The configuration and the manifests are the user's once installed:
	# never overwrite them.
	if [[ ! -e /etc/minikubelet/config.yaml ]]; then
		cat >/etc/minikubelet/config.yaml <<EOF
# Configuration of \`minikubelet agent\` (the systemd service minikubelet).
# Every key is also a flag: manifests is --manifests, nodeName --node-name,
# crashLoopBackOff.maxContainerRestartPeriod --max-container-restart-period.
manifests: /etc/minikubelet/manifests
root: $ROOT_DIR
images: $ROOT_DIR/images
# Never contact a remote registry: the imported lab images satisfy
# imagePullPolicy Always.
offline: true
EOF
		log "wrote /etc/minikubelet/config.yaml"
	fi
	local f
	for f in "$REPO"/manifests/*.yml "$REPO"/manifests/*.yaml; do
		[[ -e $f ]] || continue
		[[ -e /etc/minikubelet/manifests/${f##*/} ]] || install -m 0644 "$f" /etc/minikubelet/manifests/
	done
	for f in "$REPO"/manifests/lab/*; do
		[[ -e $f ]] || continue
		install -m 0644 "$f" /etc/minikubelet/lab/
	done

	if systemd_running; then
		systemctl daemon-reload
		if systemctl is-active --quiet minikubelet.service; then
			log "restarting minikubelet (pods keep running: KillMode=process)"
			systemctl enable minikubelet.service
			systemctl restart minikubelet.service
		else
			systemctl enable --now minikubelet.service
		fi
		log "minikubelet is $(systemctl is-active minikubelet.service): minikubelet get pods; journalctl -u minikubelet -f"
	else
		# Enabling works without a running systemd: it only makes links.
		local enabled="installed"
		if command -v systemctl >/dev/null && systemctl enable minikubelet.service >/dev/null 2>&1; then
			enabled="installed and enabled: it starts at the next boot with systemd"
		fi
		log "systemd is not running here (PID 1 is $(ps -o comm= -p 1 2>/dev/null || echo unknown)):" \
			"the service is $enabled;" \
			"to run the agent now: minikubelet agent --config /etc/minikubelet/config.yaml"
	fi
}

case $mode in
run)
	log "running the agent on $REPO/manifests (Ctrl-C stops it)"
	log "in another terminal: $REPO/bin/minikubelet get pods -w"
	exec "$REPO/bin/minikubelet" agent \
		--manifests "$REPO/manifests" \
		--root "$ROOT_DIR" \
		--images "$REPO/bin/images" \
		--pause-binary "$REPO/bin/minikubelet-pause" \
		--offline
	;;
service)
	install_service
	;;
*)
	log "built bin/minikubelet, bin/minikubelet-pause and bin/images; run the agent with: $0 --run"
	;;
esac
