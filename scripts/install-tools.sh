#!/usr/bin/env bash
# install-tools.sh -- install the real external tools obsgen's test suite runs.
#
# Usage:
#   scripts/install-tools.sh                install (or verify) every tool, then print
#                                           `export PATH="<bin dir>:$PATH"` on stdout
#   scripts/install-tools.sh TOOL...        only these tools: debian otelcol prometheus3 loki
#                                           pint dashboard-linter kustomize jaeger
#   scripts/install-tools.sh --print-path   print the bin dir and exit (installs nothing)
#   scripts/install-tools.sh --check        exit 0 iff every (selected) tool is installed and
#                                           runs; builds/installs nothing
#
# Everything lands under ${OBSGEN_TOOLS_DIR:-$HOME/.cache/obsgen-tools}:
#   <name>-<version>/bin/<binary>   one directory per tool and version (a bump builds a new dir)
#   bin/                            symlinks to all tools: put THIS directory on PATH
#     prometheus promtool alertmanager amtool     Debian bookworm packages (2.42 / 0.25)
#     prometheus3 promtool3                       Prometheus 3.x, built from the Go module
#     otelcol-obsgen ocb                          OpenTelemetry Collector (otel/builder-config.yaml)
#     loki  pint  dashboard-linter  kustomize  jaeger
#
# Idempotent: a tool whose cached binary exists and runs is not rebuilt, so a warm run takes
# seconds. Build output and progress go to stderr; only the PATH line goes to stdout.
# Needs: Debian/apt (root or passwordless sudo, only when a package is missing) and Go
# (/usr/local/go/bin/go, or $GO, or `go` on PATH; only when something must be built).
# Network: Debian mirrors and the Go module proxy only.
set -euo pipefail

# --- Pinned versions ----------------------------------------------------------------------
# How to bump: change the variable, run this script, run the tests. Each version lives in its
# own cache dir, so old builds stay until you delete them.
# The module proxy reachable from CI serves only some versions and refuses the version
# *list* of some modules (403 "This module version is not available"), so check a candidate
# first:   GOTOOLCHAIN=local go list -m -json MODULE@vVERSION
# and make sure the module's go.mod `go` line is <= the installed Go (GOTOOLCHAIN=local).
#
# OpenTelemetry Collector Builder and every component in otel/builder-config.yaml: core and
# contrib share one version number per release. Bump here AND in the manifest (all v0.X.Y
# lines, the v1.Y.Z providers, dist.version); the script refuses to build if they disagree.
OTELCOL_VERSION=0.161.0
# Prometheus 3: module github.com/prometheus/prometheus tags 3.X.Y as v0.3XX.Y
# (3.5.0 => v0.305.0, 3.15.0 => v0.315.0); the mapping is computed below.
# (3.16.0 is the newest tag, but the proxy refuses four of its dependencies, e.g.
# github.com/pb33f/go-yaml@v0.1.1.)
PROMETHEUS3_VERSION=3.15.0
# Loki: module github.com/grafana/loki/v3, tag v$LOKI_VERSION.
LOKI_VERSION=3.7.8
# pint: module github.com/cloudflare/pint, tag v$PINT_VERSION.
PINT_VERSION=0.80.0
# Grafana dashboard-linter: module github.com/grafana/dashboard-linter (full module version).
# The tags v0.2.0/v0.3.0 exist on the proxy but need github.com/grafana/grafana/apps/dashboard
# at a version the proxy refuses, so this is the newest revision that builds here (main of
# 2024-12-24, a revision other projects' go.mod files pin). The checksum database has no entry for it
# (404), so the script verifies the module against this pinned go.sum hash instead; when
# bumping, take the "Sum" from `go mod download -json MODULE@VERSION` (or empty it to use
# the checksum database as usual).
DASHBOARD_LINTER_VERSION=v0.0.0-20241224134444-1765d94aec4a
DASHBOARD_LINTER_SUM=h1:wpyAYX8+Rqu0LIEE7zXBR/qjBH4t0yXvqlRGa1wD5rg=
# kustomize: module sigs.k8s.io/kustomize/kustomize/v5, tag v$KUSTOMIZE_VERSION (`kustomize build
# kubernetes/` in tests). 5.8.x needs Go >= 1.27; 5.7.1 is the newest that builds with this Go.
KUSTOMIZE_VERSION=5.7.1
# Jaeger v2 (trace store): module github.com/jaegertracing/jaeger tags its releases v1.X.Y and v2.Z.0 in
# pairs; the v2 binary (cmd/jaeger) of release 2.13.0 is built from the module tag v1.76.0. go.mod has a
# replace directive, so it is built from a copy of the module.
JAEGER_VERSION=2.13.0
JAEGER_MODULE_VERSION=1.76.0
# Debian bookworm packages (versions are whatever bookworm ships: prometheus 2.42,
# prometheus-alertmanager 0.25).
DEBIAN_PACKAGES=(prometheus prometheus-alertmanager iproute2)  # iproute2: ss, for a test reading a listen backlog
# -------------------------------------------------------------------------------------------

ALL_TOOLS=(debian pint dashboard-linter prometheus3 otelcol loki kustomize jaeger)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${OBSGEN_TOOLS_DIR:-$HOME/.cache/obsgen-tools}
BIN_DIR=$CACHE_DIR/bin
BUILDER_CONFIG=$REPO_ROOT/otel/builder-config.yaml

log() { printf '[install-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[install-tools] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# --- arguments ------------------------------------------------------------------------------
CHECK_ONLY=0
SELECTED=()
for arg in "$@"; do
    case $arg in
        --print-path) printf '%s\n' "$BIN_DIR"; exit 0 ;;
        --check) CHECK_ONLY=1 ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option: $arg (see --help)" ;;
        *)
            case " ${ALL_TOOLS[*]} " in
                *" $arg "*) SELECTED+=("$arg") ;;
                *) die "unknown tool: $arg (known: ${ALL_TOOLS[*]})" ;;
            esac ;;
    esac
done
((${#SELECTED[@]})) || SELECTED=("${ALL_TOOLS[@]}")

# --- helpers --------------------------------------------------------------------------------
WORK_ROOT=""
POLICY_RC_CREATED=0
cleanup() {
    local rc=$?
    if ((POLICY_RC_CREATED)); then as_root rm -f /usr/sbin/policy-rc.d || true; fi
    if [[ -n $WORK_ROOT && -d $WORK_ROOT ]]; then
        chmod -R u+w "$WORK_ROOT" 2>/dev/null || true
        rm -rf "$WORK_ROOT"
    fi
    return $rc
}
trap cleanup EXIT

as_root() {
    if ((EUID == 0)); then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root (or passwordless sudo) to run: $*"
    fi
}

# runs BINARY ARGS...: true when BINARY exists and `BINARY ARGS` exits 0 within 60 s.
runs() { [[ -x $1 ]] && timeout 60 "$@" </dev/null >/dev/null 2>&1; }

# link TARGET NAME: expose TARGET as $BIN_DIR/NAME.
link() { ln -sfn "$1" "$BIN_DIR/$2"; }

# A private scratch dir, removed on exit. Everything is built inside it and only moved into
# the cache once it has been verified, so an interrupted build never looks cached.
work_dir() {
    if [[ -z $WORK_ROOT ]]; then
        mkdir -p "$CACHE_DIR/.work"
        WORK_ROOT=$(mktemp -d "$CACHE_DIR/.work/run.XXXXXX")
    fi
    mktemp -d "$WORK_ROOT/$1.XXXXXX"
}

# publish TOOL STAGED_DIR FINAL_DIR: atomically replace FINAL_DIR with STAGED_DIR.
publish() {
    chmod 755 "$2"   # mktemp -d made it 0700
    rm -rf "$3.old"
    if [[ -e $3 ]]; then mv "$3" "$3.old"; fi
    mv "$2" "$3" || die "$1: cannot move build into $3"
    rm -rf "$3.old"
}

GO_READY=0
setup_go() {
    ((GO_READY)) && return 0
    local go=${GO:-}
    if [[ -z $go ]]; then
        if [[ -x /usr/local/go/bin/go ]]; then go=/usr/local/go/bin/go
        elif command -v go >/dev/null 2>&1; then go=$(command -v go)
        else die "Go not found (looked at \$GO, /usr/local/go/bin/go, PATH); it is needed to build: $CURRENT_TOOL"
        fi
    fi
    PATH="$(dirname "$go"):$PATH"   # ocb runs plain `go`
    export PATH
    export GOTOOLCHAIN=local               # never try to download another toolchain
    export GOWORK=off
    export GOFLAGS=-buildvcs=false
    export CGO_ENABLED=0                   # static binaries, no C toolchain needed
    log "using $(go version) (GOCACHE=$(go env GOCACHE), GOMODCACHE=$(go env GOMODCACHE), GOPROXY=$(go env GOPROXY))"
    GO_READY=1
}

# mod_download MODULE@VERSION [EXPECTED_SUM]: sets MOD_DIR (read-only module source), MOD_REV
# (VCS commit, may be empty) and MOD_DATE (commit time as YYYYmmdd-HH:MM:SS). With
# EXPECTED_SUM the checksum database is skipped for MODULE and its go.sum hash must match.
mod_download() {
    local out tmp env=()
    tmp=$(work_dir moddl)
    [[ -n ${2:-} ]] && env=("GONOSUMDB=${1%@*}")
    out=$(cd "$tmp" && env "${env[@]}" go mod download -json "$1" 2>&1) \
        || die "$CURRENT_TOOL: go mod download $1 failed:"$'\n'"$out"
    if [[ -n ${2:-} ]] && ! grep -qF "\"Sum\": \"$2\"" <<<"$out"; then
        die "$CURRENT_TOOL: $1 does not have the pinned checksum $2:"$'\n'"$out"
    fi
    MOD_DIR=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$out")
    MOD_REV=$(sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]*\)",\{0,1\}$/\1/p' <<<"$out" | head -n1)
    # shellcheck disable=SC2015 # an empty date is fine
    MOD_DATE=$(cd "$tmp" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "20060102-15:04:05"}}{{end}}' "$1" 2>/dev/null || true)
    [[ -n $MOD_DIR && -d $MOD_DIR ]] || die "$CURRENT_TOOL: go mod download $1 gave no source dir:"$'\n'"$out"
}

# build_module TOOL MODULE@VERSION OUT_DIR EXTRA_LDFLAGS PACKAGE...
# For modules whose go.mod has replace directives (`go install pkg@version` refuses those) or
# whose version list the proxy refuses (`go install pkg@version` reads it): copy the module source somewhere writable and `go build` there with the module's own
# go.mod/go.sum. Call mod_download for MODULE@VERSION first (it sets MOD_DIR).
build_module() {
    local tool=$1 modver=$2 out=$3 ldextra=$4 src
    shift 4
    src=$(work_dir "$tool-src")
    cp -R "$MOD_DIR/." "$src/"
    chmod -R u+w "$src"
    # A `replace X => ./dir` pointing at a nested module: module zips leave nested modules
    # out, so fetch X at the version the go.mod requires and put it where the replace points
    # (Loki: github.com/grafana/loki/pkg/push => ./pkg/push).
    local rmod rdir rver
    while read -r rmod rdir; do
        [[ -n $rmod && ! -e $src/$rdir/go.mod ]] || continue
        rver=$(awk -v m="$rmod" '($1 == "require" && $2 == m) { print $3 } ($1 == m && $2 ~ /^v/) { print $2 }' "$src/go.mod" | head -n1)
        [[ -n $rver ]] || die "$tool: go.mod replaces $rmod with $rdir, which is not in the module zip, and does not require a version of it"
        log "$tool: $rdir is a nested module missing from the zip; using $rmod@$rver"
        local saved_dir=$MOD_DIR saved_rev=$MOD_REV saved_date=$MOD_DATE
        mod_download "$rmod@$rver"
        mkdir -p "$src/$rdir"
        cp -R "$MOD_DIR/." "$src/$rdir/"
        chmod -R u+w "$src/$rdir"
        MOD_DIR=$saved_dir MOD_REV=$saved_rev MOD_DATE=$saved_date
    done < <(awk '($1 == "replace" && $3 == "=>" && $4 ~ /^\.\.?\//) { print $2, $4 }
                  ($1 != "replace" && $2 == "=>" && $3 ~ /^\.\.?\//) { print $1, $3 }' "$src/go.mod")
    log "$tool: go build $* (from $modver)"
    (cd "$src" && go build -trimpath -ldflags="-s -w $ldextra" -o "$out/" "$@") \
        || die "$tool: go build of $modver failed (see the go output above)"
    chmod -R u+w "$src"; rm -rf "$src"
}

# --- per-tool steps -------------------------------------------------------------------------
# Each step: if the cached binary runs -> just (re)link it; else, unless --check, build it into
# a staging dir, verify it, publish it under $CACHE_DIR/<name>-<version>/ and link it.
MISSING=()
SUMMARY=()
CURRENT_TOOL=""

step_start() {
    CURRENT_TOOL=$1
    STEP_T0=$SECONDS
}
step_done() {
    local how=$1; shift
    SUMMARY+=("$(printf '%-17s %-22s %-7s %4ss  %s' "$CURRENT_TOOL" "$1" "$how" "$((SECONDS - STEP_T0))" "$2")")
}
# need_build: returns 0 when the caller should build; under --check records MISSING instead.
need_build() {
    if ((CHECK_ONLY)); then
        MISSING+=("$CURRENT_TOOL")
        log "$CURRENT_TOOL: NOT installed (--check)"
        return 1
    fi
    setup_go
    return 0
}

port_listening() {   # true if something listens on TCP port $1 (no ss/netstat needed)
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v h="$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

tool_debian() {
    step_start debian
    local missing=() p how=cached
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if ((CHECK_ONLY)); then
            MISSING+=("debian(${missing[*]})"); log "debian: NOT installed: ${missing[*]}"; return 0
        fi
        command -v apt-get >/dev/null 2>&1 || die "debian: ${missing[*]} missing and apt-get not found"
        log "debian: installing ${missing[*]} (apt-get update + install)"
        # Keep maintainer scripts from starting daemons (no systemd in CI anyway): a
        # policy-rc.d that answers 101 makes invoke-rc.d skip every start.
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\n# temporary, by obsgen scripts/install-tools.sh\nexit 101\n' \
                | as_root tee /usr/sbin/policy-rc.d >/dev/null
            as_root chmod 755 /usr/sbin/policy-rc.d
            POLICY_RC_CREATED=1
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
            || die "debian: apt-get update failed"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" </dev/null >&2 \
            || die "debian: apt-get install ${missing[*]} failed"
        if ((POLICY_RC_CREATED)); then as_root rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
        # If a package started its daemon anyway, stop it through its own init script.
        local svc port
        for svc in prometheus prometheus-alertmanager; do
            case $svc in prometheus) port=9090 ;; *) port=9093 ;; esac
            if port_listening "$port"; then
                log "debian: something listens on :$port after install; stopping service $svc"
                as_root service "$svc" stop >&2 2>&1 || as_root "/etc/init.d/$svc" stop >&2 2>&1 || true
                sleep 1
                port_listening "$port" && log "WARNING: debian: :$port is still in use (not started by this script?)"
            fi
        done
        how=built
    fi
    local b
    for b in /usr/bin/prometheus /usr/bin/promtool /usr/bin/prometheus-alertmanager /usr/bin/amtool; do
        runs "$b" --version || die "debian: $b is missing or does not run"
    done
    link /usr/bin/prometheus prometheus
    link /usr/bin/promtool promtool
    link /usr/bin/prometheus-alertmanager alertmanager
    link /usr/bin/amtool amtool
    local v
    v=$(dpkg-query -W -f='${Version}' prometheus)/$(dpkg-query -W -f='${Version}' prometheus-alertmanager)
    step_done "$how" "$v" "/usr/bin/{prometheus,promtool,prometheus-alertmanager,amtool}"
}

tool_pint() {
    step_start pint
    local dir=$CACHE_DIR/pint-$PINT_VERSION how=cached
    if ! runs "$dir/bin/pint" version; then
        need_build || return 0
        local stage
        stage=$(work_dir pint)
        # Not `go install ...@vX`: that also reads the module's version list (to look for a
        # deprecation notice), which the proxy refuses for pint (403), so it fails.
        mod_download "github.com/cloudflare/pint@v$PINT_VERSION"
        build_module pint "github.com/cloudflare/pint@v$PINT_VERSION" "$stage/bin" \
            "-X main.version=v$PINT_VERSION -X main.commit=$MOD_REV" ./cmd/pint
        runs "$stage/bin/pint" version || die "pint: built binary does not run"
        publish pint "$stage" "$dir"; how=built
    fi
    link "$dir/bin/pint" pint
    step_done "$how" "$PINT_VERSION" "$dir/bin/pint"
}

tool_kustomize() {
    step_start kustomize
    local dir=$CACHE_DIR/kustomize-$KUSTOMIZE_VERSION how=cached
    if ! runs "$dir/bin/kustomize" version; then
        need_build || return 0
        local stage
        stage=$(work_dir kustomize)
        mod_download "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION"
        build_module kustomize "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION" "$stage/bin" "" .
        runs "$stage/bin/kustomize" version || die "kustomize: built binary does not run"
        publish kustomize "$stage" "$dir"; how=built
    fi
    link "$dir/bin/kustomize" kustomize
    step_done "$how" "$KUSTOMIZE_VERSION" "$dir/bin/kustomize"
}

tool_dashboard_linter() {
    step_start dashboard-linter
    local dir=$CACHE_DIR/dashboard-linter-${DASHBOARD_LINTER_VERSION#v} how=cached
    if ! runs "$dir/bin/dashboard-linter" --help; then
        need_build || return 0
        local stage
        stage=$(work_dir dashboard-linter)
        # Download + build: `go install ...@version` needs the module's version list, which the
        # proxy refuses for this module (and newer versions have a replace directive).
        mod_download "github.com/grafana/dashboard-linter@$DASHBOARD_LINTER_VERSION" "$DASHBOARD_LINTER_SUM"
        build_module dashboard-linter "github.com/grafana/dashboard-linter@$DASHBOARD_LINTER_VERSION" \
            "$stage/bin" "" .
        runs "$stage/bin/dashboard-linter" --help || die "dashboard-linter: built binary does not run"
        publish dashboard-linter "$stage" "$dir"; how=built
    fi
    link "$dir/bin/dashboard-linter" dashboard-linter
    step_done "$how" "${DASHBOARD_LINTER_VERSION#v}" "$dir/bin/dashboard-linter"
}

tool_prometheus3() {
    step_start prometheus3
    local dir=$CACHE_DIR/prometheus3-$PROMETHEUS3_VERSION how=cached
    if ! { runs "$dir/bin/prometheus" --version && runs "$dir/bin/promtool" --version; }; then
        need_build || return 0
        local major minor patch modver stage vp=github.com/prometheus/common/version
        IFS=. read -r major minor patch <<<"$PROMETHEUS3_VERSION"
        [[ $major == 3 ]] || die "prometheus3: PROMETHEUS3_VERSION must be 3.x (got $PROMETHEUS3_VERSION)"
        modver=v0.$((300 + minor)).$patch
        stage=$(work_dir prometheus3)
        # No `builtinassets` tag: the web UI is not embedded (no npm step); the server and the
        # API work, only the UI pages say the assets are missing.
        mod_download "github.com/prometheus/prometheus@$modver"
        build_module prometheus3 "github.com/prometheus/prometheus@$modver" "$stage/bin" \
            "-X $vp.Version=$PROMETHEUS3_VERSION -X $vp.Revision=$MOD_REV -X $vp.Branch=HEAD -X $vp.BuildUser=obsgen-install-tools -X $vp.BuildDate=$MOD_DATE" \
            ./cmd/prometheus ./cmd/promtool
        runs "$stage/bin/prometheus" --version || die "prometheus3: built prometheus does not run"
        runs "$stage/bin/promtool" --version || die "prometheus3: built promtool does not run"
        "$stage/bin/prometheus" --version 2>&1 | grep -q "version $PROMETHEUS3_VERSION" \
            || die "prometheus3: built binary does not report version $PROMETHEUS3_VERSION"
        publish prometheus3 "$stage" "$dir"; how=built
    fi
    link "$dir/bin/prometheus" prometheus3
    link "$dir/bin/promtool" promtool3
    step_done "$how" "$PROMETHEUS3_VERSION" "$dir/bin/{prometheus,promtool} (as prometheus3, promtool3)"
}

tool_loki() {
    step_start loki
    local dir=$CACHE_DIR/loki-$LOKI_VERSION how=cached
    if ! runs "$dir/bin/loki" -version; then
        need_build || return 0
        local stage vp=github.com/grafana/loki/v3/pkg/util/build
        stage=$(work_dir loki)
        mod_download "github.com/grafana/loki/v3@v$LOKI_VERSION"
        # go.mod has replace directives, so `go install` refuses it.
        build_module loki "github.com/grafana/loki/v3@v$LOKI_VERSION" "$stage/bin" \
            "-X $vp.Version=$LOKI_VERSION -X $vp.Revision=$MOD_REV -X $vp.Branch=HEAD -X $vp.BuildUser=obsgen-install-tools -X $vp.BuildDate=$MOD_DATE" \
            ./cmd/loki
        runs "$stage/bin/loki" -version || die "loki: built binary does not run"
        publish loki "$stage" "$dir"; how=built
    fi
    link "$dir/bin/loki" loki
    step_done "$how" "$LOKI_VERSION" "$dir/bin/loki"
}

tool_jaeger() {
    step_start jaeger
    local dir=$CACHE_DIR/jaeger-$JAEGER_VERSION how=cached
    if ! runs "$dir/bin/jaeger" version; then
        need_build || return 0
        local stage vp=github.com/jaegertracing/jaeger/internal/version
        stage=$(work_dir jaeger)
        mod_download "github.com/jaegertracing/jaeger@v$JAEGER_MODULE_VERSION"
        build_module jaeger "github.com/jaegertracing/jaeger@v$JAEGER_MODULE_VERSION" "$stage/bin" \
            "-X $vp.latestVersion=v$JAEGER_VERSION -X $vp.commitSHA=$MOD_REV -X $vp.date=$MOD_DATE" ./cmd/jaeger
        runs "$stage/bin/jaeger" version || die "jaeger: built binary does not run"
        publish jaeger "$stage" "$dir"; how=built
    fi
    link "$dir/bin/jaeger" jaeger
    step_done "$how" "$JAEGER_VERSION" "$dir/bin/jaeger"
}

# Components otel/builder-config.yaml must yield (checked with `otelcol-obsgen components`).
OTELCOL_COMPONENTS=(otlp batch memory_limiter attributes transform resource
    debug otlp_http prometheus prometheus_remote_write file health_check zpages pprof
    file_storage forward)

tool_otelcol() {
    step_start otelcol
    [[ -f $BUILDER_CONFIG ]] || die "otelcol: $BUILDER_CONFIG not found"
    # The manifest pins every component; refuse a manifest that disagrees with OTELCOL_VERSION.
    local versions
    versions=$(grep -oE '^[[:space:]]*- gomod:[^#]* v0\.[0-9]+\.[0-9]+' "$BUILDER_CONFIG" \
        | grep -oE 'v0\.[0-9]+\.[0-9]+$' | sort -u | tr '\n' ' ')
    [[ $versions == "v$OTELCOL_VERSION " ]] \
        || die "otelcol: $BUILDER_CONFIG pins components at '$versions' but OTELCOL_VERSION=$OTELCOL_VERSION"
    # Cache key: version + hash of the manifest, so editing the manifest rebuilds.
    local hash dir ocb_dir=$CACHE_DIR/ocb-$OTELCOL_VERSION how=cached
    hash=$(sha256sum "$BUILDER_CONFIG" | cut -c1-12)
    dir=$CACHE_DIR/otelcol-obsgen-$OTELCOL_VERSION-$hash
    if ! runs "$dir/bin/otelcol-obsgen" --version; then
        need_build || return 0
        # 1. the builder (ocb) itself
        if ! runs "$ocb_dir/bin/builder" version; then
            local ocb_stage
            ocb_stage=$(work_dir ocb)
            log "otelcol: go install go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
            if ! GOBIN=$ocb_stage/bin go install -trimpath -ldflags='-s -w' \
                "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"; then
                # e.g. the proxy refuses the version list go install reads: build it ourselves.
                log "otelcol: go install failed; building ocb from the downloaded module instead"
                mod_download "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
                build_module ocb "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION" \
                    "$ocb_stage/bin" "" .
            fi
            runs "$ocb_stage/bin/builder" version || die "otelcol: builder (ocb) does not run"
            publish ocb "$ocb_stage" "$ocb_dir"
        fi
        # 2. the collector, from a copy of the manifest whose output_path is our scratch dir
        local stage gen
        stage=$(work_dir otelcol)
        gen=$stage/gen
        mkdir -p "$stage/bin"
        sed "s|^\([[:space:]]*output_path:\).*|\1 $gen|" "$BUILDER_CONFIG" >"$stage/builder-config.yaml"
        grep -q "output_path: $gen\$" "$stage/builder-config.yaml" \
            || die "otelcol: $BUILDER_CONFIG has no dist.output_path line to redirect"
        log "otelcol: building otelcol-obsgen with ocb v$OTELCOL_VERSION (manifest sha256 $hash)"
        (cd "$stage" && "$ocb_dir/bin/builder" --config "$stage/builder-config.yaml") >&2 \
            || die "otelcol: builder --config otel/builder-config.yaml failed"
        mv "$gen/otelcol-obsgen" "$stage/bin/otelcol-obsgen" \
            || die "otelcol: builder produced no otelcol-obsgen binary"
        chmod -R u+w "$gen"; rm -rf "$gen"
        runs "$stage/bin/otelcol-obsgen" --version || die "otelcol: otelcol-obsgen --version failed"
        local comps c
        comps=$("$stage/bin/otelcol-obsgen" components 2>&1) \
            || die "otelcol: otelcol-obsgen components failed:"$'\n'"$comps"
        for c in "${OTELCOL_COMPONENTS[@]}"; do
            grep -qE "name: $c\$" <<<"$comps" || die "otelcol: component '$c' missing from the build"
        done
        cp "$BUILDER_CONFIG" "$stage/builder-config.yaml"   # record what was built
        publish otelcol "$stage" "$dir"; how=built
    fi
    link "$dir/bin/otelcol-obsgen" otelcol-obsgen
    [[ -x $ocb_dir/bin/builder ]] && link "$ocb_dir/bin/builder" ocb
    step_done "$how" "$OTELCOL_VERSION" "$dir/bin/otelcol-obsgen"
}

# --- main -----------------------------------------------------------------------------------
T0=$SECONDS
mkdir -p "$BIN_DIR"
# Serialize concurrent runs (two CI jobs, a developer and a test) on one cache.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_DIR/.lock"
    if ! flock -n 9; then
        log "another install-tools.sh holds $CACHE_DIR/.lock; waiting"
        flock 9
    fi
fi
rm -rf "$CACHE_DIR/.work"   # leftovers of an interrupted run (we hold the lock)
log "tools: ${SELECTED[*]} -> $BIN_DIR"

for tool in "${SELECTED[@]}"; do
    case $tool in
        debian) tool_debian ;;
        pint) tool_pint ;;
        dashboard-linter) tool_dashboard_linter ;;
        kustomize) tool_kustomize ;;
        prometheus3) tool_prometheus3 ;;
        otelcol) tool_otelcol ;;
        loki) tool_loki ;;
        jaeger) tool_jaeger ;;
    esac
done

log "summary (tool, version, cached/built, seconds, binary):"
for line in "${SUMMARY[@]}"; do printf '    %s\n' "$line" >&2; done
if ((${#MISSING[@]})); then
    log "missing: ${MISSING[*]} (run scripts/install-tools.sh without --check)"
    exit 1
fi
log "done in $((SECONDS - T0))s; bin dir: $BIN_DIR"
# shellcheck disable=SC2016 # $PATH is meant literally
printf 'export PATH="%s:$PATH"\n' "$BIN_DIR"
