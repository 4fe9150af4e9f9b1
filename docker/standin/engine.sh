#!/usr/bin/env bash
# Step 1 of running compose.yaml on a machine that cannot reach Docker Hub: make sure a
# Docker engine (Debian's docker.io), docker-compose 1.29 and debootstrap are installed,
# and that dockerd runs (started here in the background when it does not). Idempotent.
# Run as root. Debian bookworm ships no `docker compose` v2 plugin (no docker-compose-plugin,
# no docker-compose-v2) nor buildx: use `docker-compose` (v1.29).
set -euo pipefail

log() { printf '[engine %s] %s\n' "$(date +%T)" "$*"; }
step_start() { STEP_T0=$(date +%s.%N); }
step_end() { log "$1: $(awk -v a="$STEP_T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1fs", b-a}')"; }

[ "$(id -u)" = 0 ] || { echo "engine.sh: run as root" >&2; exit 1; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    step_start
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    step_end "apt-get install ${missing[*]}"
else
    log "docker.io, docker-compose and debootstrap already installed"
fi

if docker info >/dev/null 2>&1; then
    log "dockerd already answers"
else
    step_start
    log "starting dockerd (overlay2), log in ${DOCKERD_LOG:-/tmp/dockerd.log}"
    # setsid + nohup: the daemon outlives this script and its shell.
    setsid nohup dockerd --storage-driver=overlay2 >"${DOCKERD_LOG:-/tmp/dockerd.log}" 2>&1 < /dev/null &
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not answer in 60 s; see ${DOCKERD_LOG:-/tmp/dockerd.log}" >&2; exit 1; }
    step_end "dockerd ready"
fi
