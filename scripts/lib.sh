# shellcheck shell=bash
# Functions shared by scripts/install.sh and scripts/test. Source it; it
# sets REPO to the repository root and changes nothing else until called.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the agent needs at run time and to build the lab images:
# containerd and runc run the containers, the CNI plugins wire the pods,
# iproute2/nftables/iptables are what the bridge and port mapping use,
# busybox-static and curl are copied into the lab images, ca-certificates
# lets Go fetch modules over HTTPS; bsdutils has script(1), the terminal
# scripts/lab-check gives the lab's `run -it` session (essential on Debian,
# listed so that a trimmed system gets it too).
# shellcheck disable=SC2034 # used by the scripts that source this file
RUNTIME_PACKAGES=(containerd runc containernetworking-plugins iproute2 nftables iptables
	busybox-static curl ca-certificates bsdutils)
# What builds the pause program (C, static: build_pause): the compiler and
# glibc's static libc.
# shellcheck disable=SC2034
BUILD_PACKAGES=(gcc libc6-dev)
# What only the test suite needs: a registry to pull from on 127.0.0.1.
# shellcheck disable=SC2034
TEST_PACKAGES=(docker-registry)
# The build tags of the agent users run. grpcnotrace leaves gRPC's request
# tracing out (golang.org/x/net/trace and the html/template it renders its
# pages with): the agent never turns it on (grpc.EnableTracing), and
# without it the binary is 360 KiB smaller and its start allocates 37 KB
# less. Every build of the agent (install, bench, soak) takes these.
# shellcheck disable=SC2034
AGENT_TAGS=grpcnotrace

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "run me as root"
}

systemd_running() { [[ -d /run/systemd/system ]]; }

# missing_packages prints those of its arguments that are not installed.
missing_packages() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ $status == installed ]] || printf '%s\n' "$p"
	done
}

APT_UPDATED=
apt_update_once() {
	if [[ -z $APT_UPDATED ]]; then
		log "apt-get update"
		apt-get update -qq
		APT_UPDATED=1
	fi
}

# apt_install installs those of its arguments that are missing, without
# questions and without recommended extras. Services that packages would
# start (docker-registry listens on :5000) are kept stopped with a
# policy-rc.d for the duration of the install when norestart is set.
apt_install() {
	local missing
	mapfile -t missing < <(missing_packages "$@")
	[[ ${#missing[@]} -gt 0 ]] || return 0
	apt_update_once
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
}

# apt_install_nostart installs packages without letting them start their
# services now or at boot: the tests start the program themselves.
apt_install_nostart() {
	local missing policy=/usr/sbin/policy-rc.d created='' p
	mapfile -t missing < <(missing_packages "$@")
	[[ ${#missing[@]} -gt 0 ]] || return 0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# written by minikubelet scripts/lib.sh for one install\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		created=1
	fi
	local rc=0
	apt_install "${missing[@]}" || rc=$?
	[[ -z $created ]] || rm -f "$policy"
	[[ $rc -eq 0 ]] || return "$rc"
	if systemd_running; then
		for p in "${missing[@]}"; do
			if systemctl list-unit-files "$p.service" >/dev/null 2>&1; then
				systemctl disable --now "$p.service" >/dev/null 2>&1 || true
			fi
		done
	fi
}

# go_version_of prints the version of a go binary as "1.26.8".
go_version_of() {
	local v
	v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	printf '%s\n' "${v%%[-+ ]*}"
}

# version_ge A B: is version A at least B (dotted numbers)?
version_ge() {
	[[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]
}

# ensure_go puts a Go toolchain able to build go.mod on PATH and exports
# GO. The machine's /usr/local/go is used when there is one; otherwise
# Debian's golang from bookworm-backports. A toolchain older than go.mod's
# go line (but at least 1.21) fetches the right one through the Go module
# proxy (GOTOOLCHAIN=auto).
ensure_go() {
	local want have cand best=
	want=$(awk '$1 == "go" { print $2; exit }' "$REPO/go.mod")
	for cand in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go/bin/go /usr/lib/go-1.*/bin/go; do
		[[ -n $cand && -x $cand ]] || continue
		have=$(go_version_of "$cand") || continue
		if [[ -z $best ]] || version_ge "$have" "$(go_version_of "$best")"; then
			best=$cand
		fi
	done
	if [[ -z $best ]] || ! version_ge "$(go_version_of "$best")" 1.21; then
		install_debian_go
		best=
		for cand in /usr/lib/go-1.*/bin/go; do
			[[ -x $cand ]] || continue
			if [[ -z $best ]] || version_ge "$(go_version_of "$cand")" "$(go_version_of "$best")"; then
				best=$cand
			fi
		done
		[[ -n $best ]] || die "no Go toolchain: install Go $want or newer by hand and run me again"
	fi
	GO=$best
	PATH="$(dirname "$GO"):$PATH"
	export PATH
	have=$(go_version_of "$GO")
	if ! version_ge "$have" "$want"; then
		# Debian's go.env says GOTOOLCHAIN=local; ask for the switch.
		log "Go $have is older than go.mod's $want: fetching go$want through the Go module proxy"
		export GOTOOLCHAIN=auto
	fi
	# Building as root in a checkout owned by someone else (a Vagrant
	# synced folder) makes git refuse the VCS stamp; the version comes
	# from -ldflags instead.
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
	# go keeps its caches under $HOME, which a bare CI environment may lack.
	if [[ -z ${HOME:-} ]]; then
		HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
		export HOME
	fi
	export GO
	log "using $("$GO" version)"
}

# install_debian_go installs the newest golang-1.N-go from bookworm-backports
# (bookworm's own golang-go is 1.19, too old to switch toolchains). The
# backports suite is added on the mirror the machine already uses.
install_debian_go() {
	local list=/etc/apt/sources.list.d/minikubelet-bookworm-backports.list pkg mirror
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		mirror=$(debian_mirror)
		[[ -n $mirror ]] || die "no Debian bookworm mirror in the apt sources; install Go $(awk '$1 == "go" { print $2 }' "$REPO/go.mod") by hand"
		log "enabling bookworm-backports on $mirror for Debian's Go"
		echo "deb $mirror bookworm-backports main" >"$list"
		APT_UPDATED=
	fi
	apt_update_once
	pkg=$(apt-cache pkgnames golang-1. 2>/dev/null | grep -E '^golang-1\.[0-9]+-go$' | sort -V | tail -n1)
	[[ -n $pkg ]] || die "no golang-1.N-go package found in Debian's archive; install Go by hand"
	log "installing $pkg"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports "$pkg" >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
}

# debian_mirror prints the URI of the apt source that serves bookworm main,
# from one-line (.list) or deb822 (.sources) files.
debian_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		# deb [options] URI suite components...
		awk '$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) != "bookworm") next
				for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit }
			}' "$f"
	done | head -n1 | grep . && return 0
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		# Stanzas are separated by blank lines; keep the URI of one that
		# lists the bookworm suite and the main component.
		awk 'BEGIN { RS = ""; FS = "\n" }
			/(^|\n)Suites:[^\n]*[ \t]bookworm([ \t]|$|\n)/ && /(^|\n)Components:[^\n]*main/ {
				for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); print a[2]; exit }
			}' "$f"
	done | head -n1
}

# project_version is what `minikubelet version` prints.
project_version() {
	git -c safe.directory="$REPO" -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo dev
}

# build_pause OUT builds the pause program (pause/pause.c) into OUT: small,
# static (the pause image has no loader nor libc) and stripped, with every
# warning an error; internal/gobuild's Pause builds it the same way for the
# tests. Needs BUILD_PACKAGES.
build_pause() {
	gcc -Os -Wall -Werror -static -s -o "$1" "$REPO/pause/pause.c"
}

# build builds bin/minikubelet, bin/minikubelet-pause (static, as the pause
# image needs) and the lab images in bin/images.
build() {
	local version
	version=$(project_version)
	log "building bin/minikubelet ($version) and bin/minikubelet-pause"
	(
		cd "$REPO" || exit
		CGO_ENABLED=0 go build -tags "$AGENT_TAGS" -trimpath -ldflags "-s -w -X main.version=$version" -o bin/minikubelet ./cmd/minikubelet
		build_pause bin/minikubelet-pause
		CGO_ENABLED=0 go build -trimpath -o bin/labimages ./cmd/labimages
		# labimages builds the web app from this module: run it from here.
		log "writing the lab images to bin/images"
		bin/labimages --out bin/images
	)
}

# kubectl_minor prints the client minor version of the kubectl at $1.
kubectl_minor() {
	[[ -n $1 && -x $1 ]] || return 1
	# From gitVersion (v1.34.2): a kubectl built from the module has an
	# empty "minor", which only release builds fill in.
	"$1" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"v1\.\([0-9]*\).*/\1/p' | head -n1 | grep .
}

# ensure_kubectl makes sure a kubectl of 1.30 or newer is on PATH: the lab
# and scripts/lab-check drive the agent's Kubernetes API with it. When there
# is none (Debian's kubernetes-client is 1.20), it builds upstream's kubectl
# from the k8s.io/kubectl module (tools/kubectl, at the release of the
# project's k8s.io modules, through the Go module proxy) into bin/kubectl
# and installs it as /usr/local/bin/kubectl. Needs ensure_go first.
ensure_kubectl() {
	local have
	if have=$(kubectl_minor "$(command -v kubectl || true)") && ((have >= 30)); then
		log "using $(command -v kubectl) (client 1.$have)"
		return
	fi
	log "no kubectl 1.30 or newer on PATH: building upstream's kubectl into bin/kubectl (a few minutes)"
	build_kubectl "$REPO/bin/kubectl"
	install -m 0755 "$REPO/bin/kubectl" /usr/local/bin/kubectl
	log "installed /usr/local/bin/kubectl ($("$REPO/bin/kubectl" version --client | head -n1))"
}

# build_kubectl OUT [VERSION] builds upstream's kubectl from tools/kubectl
# (the k8s.io/kubectl module at the release of the project's k8s.io
# modules, or at VERSION, e.g. v0.35.10, in a module of its own), stamped with that
# version, into OUT. Needs ensure_go first.
build_kubectl() {
	local out=$1 version=${2:-} dir=$REPO/tools/kubectl
	if [[ -n $version ]]; then
		dir=$(mktemp -d /tmp/minikubelet-kubectl.XXXXXX)
		# A module of its own rather than a copy of tools/kubectl's go.mod:
		# go get downgrades only what requires the newer kubectl, so an
		# older one would be built against the newer client-go.
		cp "$REPO"/tools/kubectl/main.go "$dir/"
		(cd "$dir" && go mod init "$(awk '$1 == "module" { print $2 }' "$REPO/tools/kubectl/go.mod")" &&
			go get "k8s.io/kubectl@$version" "k8s.io/component-base@$version" && go mod tidy) || {
			rm -rf "$dir"
			return 1
		}
	fi
	version=$(awk '$1 == "k8s.io/kubectl" { sub(/^v0\./, "v1.", $2); print $2; exit }' "$dir/go.mod")
	local rc=0
	(
		cd "$dir" || exit
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version" -o "$out" .
	) || rc=$?
	[[ $dir == "$REPO/tools/kubectl" ]] || rm -rf "$dir"
	return "$rc"
}

# UPSTREAM_CACHE holds the upstream Kubernetes programs built from source
# (the kubelet scripts/bench compares with, the kube-apiserver
# scripts/reference-apiserver records answers from), one directory per
# program and version.
UPSTREAM_CACHE=/var/cache/minikubelet-bench

# build_upstream CMD VERSION prints the path of k8s.io/kubernetes/cmd/CMD
# at VERSION (v1.X.Y), building it into UPSTREAM_CACHE/CMD-VERSION/CMD
# first unless it is there: from source through the Go module proxy, never
# a downloaded binary, and once (it takes minutes even with a warm module
# cache). k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...)
# with ./staging/..., which a dependent module cannot see, so a throw-away
# module replaces each with the published module of the same release
# (v0.X.Y for v1.X.Y). Needs ensure_go first.
build_upstream() {
	local cmd=$1 version=$2 dir out mod rc=0
	dir=$UPSTREAM_CACHE/$cmd-$version
	out=$dir/$cmd
	if [[ ! -x $out ]]; then
		mod=$(mktemp -d "/tmp/minikubelet-upstream-$cmd.XXXXXX")
		log "building the upstream $cmd $version into $dir (once; minutes)"
		# Not in a condition: there errexit would be off inside the subshell.
		set +e
		(
			set -e
			cd "$mod"
			printf 'package main\n\nfunc main() {}\n' >main.go
			go mod init "minikubelet-upstream-$cmd" 2>/dev/null
			local gomod m
			gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
			[[ -n $gomod ]]
			for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*|\1|p' "$gomod"); do
				go mod edit -replace "$m=$m@v0.${version#v1.}"
			done
			# go get, not go mod tidy: nothing in this module imports
			# the program's main package, so tidy would drop it.
			go get "k8s.io/kubernetes/cmd/$cmd@$version" 2>/dev/null
			mkdir -p "$dir"
			# The version is stamped at link time only: the packages'
			# build cache entries do not depend on it.
			CGO_ENABLED=0 nice -n 15 go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$version" \
				-o "$out.tmp" "k8s.io/kubernetes/cmd/$cmd"
			mv "$out.tmp" "$out"
		)
		rc=$?
		set -e
		rm -rf "$mod" "$out.tmp"
		[[ $rc -eq 0 ]] || die "building the upstream $cmd $version failed"
	fi
	printf '%s\n' "$out"
}
