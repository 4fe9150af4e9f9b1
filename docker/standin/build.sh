#!/usr/bin/env bash
# Local stand-ins for the images compose.yaml and docker/Dockerfile pull from Docker Hub
# (python:3.11-slim, redis:7, postgres:16, mongo:7), for machines that cannot reach it.
#
# For each image: present already -> skipped; `docker pull` works -> the real image is used;
# the pull fails -> a stand-in is built from Debian bookworm packages (debootstrap + the
# Dockerfiles beside this script) and tagged with the real name. Stand-ins carry the label
# org.example.standin=true, so `docker image inspect` tells them apart from the real ones.
#
#   docker/standin/build.sh      # idempotent; runs engine.sh first when docker/debootstrap
#                                # is missing or dockerd does not answer
#   STANDIN_REBUILD=1 docker/standin/build.sh   # rebuild the stand-ins (not real images)
#
# A stand-in also carries org.example.standin.source, a hash of the files it was built from:
# one built from other files (an older checkout's) is rebuilt.
#
# Needs root, docker (a running dockerd) and debootstrap; nothing else. The stand-ins reach
# Debian's mirror and PyPI as this host does: the host's apt mirror (read from
# /etc/apt/sources.list*), the host's CA bundle and local CAs (TLS inspection), and a
# /etc/pip.conf naming that bundle. Not the host's file:// package mirrors (/opt/pypi*):
# they are gigabytes and PyPI itself answers.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITE=bookworm
BASE_IMAGE=standin/debian:$SUITE
LABEL=org.example.standin
PULL_TIMEOUT=${PULL_TIMEOUT:-60}
# One build at a time, each with the default parallelism: this machine is shared.
export DOCKER_BUILDKIT=0

log() { printf '[standin %s] %s\n' "$(date +%T)" "$*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1fs", b-a}'; }
die() { log "ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
# docker, docker-compose, debootstrap and a running dockerd: engine.sh sees to them.
if ! command -v debootstrap >/dev/null || ! docker info >/dev/null 2>&1; then
    "$HERE/engine.sh"
fi

T_ALL=$(date +%s.%N)

present() { docker image inspect "$1" >/dev/null 2>&1; }
is_standin() { [ "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null)" = true ]; }
label_of() { docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null; }
# What a stand-in is built from: the files of its directory, hashed.
source_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
size_of() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1000/1000}'; }

# ---- the host's Debian mirror ------------------------------------------------------------
# First URI that serves suite $1 (one-line .list files and deb822 .sources files).
apt_uri() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v s="$1" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                                     if ($(i + 1) == s) print $i }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v s="$1" 'BEGIN { RS = ""; FS = "\n" }
            { uris = ""; suites = ""; types = ""
              for (j = 1; j <= NF; j++) {
                  line = $j
                  if (line ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", line); uris = line }
                  if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = " " line " " }
                  if (line ~ /^Types:/)  { types = " " line " " }
              }
              if (types ~ / deb / && index(suites, " " s " ")) { split(uris, u, " "); print u[1] } }' "$f"
    done
}
MIRROR=${STANDIN_MIRROR:-$(apt_uri "$SUITE" | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${STANDIN_SECURITY_MIRROR:-$(apt_uri "$SUITE-security" | head -n1)}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# ---- the Debian base of every stand-in ---------------------------------------------------
# debootstrap minbase + the host's CAs + apt sources (with updates and security) + pip.conf.
BASE_DONE=
build_base() {
    [ -z "$BASE_DONE" ] || return 0
    BASE_DONE=1
    if present "$BASE_IMAGE" && [ -z "${STANDIN_REBUILD:-}" ]; then
        log "$BASE_IMAGE: present, skipped"
        return
    fi
    local dir t
    dir=$(mktemp -d /tmp/standin-rootfs.XXXXXX)
    chmod 755 "$dir"   # it becomes the image's /: mktemp's 0700 would lock out every other user
    # shellcheck disable=SC2064
    trap "rm -rf --one-file-system '$dir'" EXIT
    t=$(date +%s.%N)
    log "$BASE_IMAGE: debootstrap --variant=minbase $SUITE from $MIRROR"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$dir" "$MIRROR" \
        >/tmp/standin-debootstrap.log 2>&1 || die "debootstrap failed, see /tmp/standin-debootstrap.log"
    log "$BASE_IMAGE: debootstrap took $(elapsed "$t")"

    t=$(date +%s.%N)
    cat >"$dir/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
    # Package downloads inside containers pass the same TLS inspection as the host's:
    # its extra CAs go where update-ca-certificates keeps them, and its bundle replaces ours.
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/" 2>/dev/null || true
    cat >"$dir/etc/pip.conf" <<'PIPCONF'
[global]
cert = /etc/ssl/certs/ca-certificates.crt
timeout = 180
disable-pip-version-check = true
PIPCONF
    # As Docker's own Debian images: no service starts during a build, no docs, no .debs kept.
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    chroot "$dir" /bin/sh -ec '
        export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
        update-ca-certificates >/dev/null
        apt-get update -q >/dev/null
        apt-get upgrade -y -q >/dev/null
        rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
               /var/lib/apt/lists/* /var/cache/apt/* /var/log/*.log /var/log/apt/* /tmp/*
    ' >/tmp/standin-base-chroot.log 2>&1 || die "configuring the rootfs failed, see /tmp/standin-base-chroot.log"
    cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
    : >"$dir/etc/resolv.conf"
    rm -f "$dir/etc/hostname"
    log "$BASE_IMAGE: CAs, apt sources and upgrade took $(elapsed "$t")"

    t=$(date +%s.%N)
    tar --numeric-owner -C "$dir" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change "LABEL $LABEL=true" \
            --change 'CMD ["bash"]' \
            -m "debootstrap --variant=minbase $SUITE $MIRROR" - "$BASE_IMAGE" >/dev/null
    rm -rf --one-file-system "$dir"
    trap - EXIT
    log "$BASE_IMAGE: imported in $(elapsed "$t"), $(size_of "$BASE_IMAGE")"
}

# ---- one image: skip, pull, or build its stand-in ----------------------------------------
# standin IMAGE DIR: DIR holds the stand-in's Dockerfile (FROM $BASE_IMAGE).
standin() {
    local image=$1 dir=$2 t out old source rebuild=${STANDIN_REBUILD:-}
    source=$(source_hash "$dir")
    # A stand-in built from other files than these (an older checkout's) is built again.
    if present "$image" && is_standin "$image" && [ "$(label_of "$image" "$LABEL.source")" != "$source" ]; then
        log "$image: local stand-in built from other files than $dir, rebuilt"
        rebuild=1
    fi
    if present "$image" && [ -z "$rebuild" ]; then
        if is_standin "$image"; then
            log "$image: present (local stand-in), skipped"
        else
            log "$image: present (real image), skipped"
        fi
        return
    fi
    if present "$image" && ! is_standin "$image"; then
        log "$image: present (real image), not rebuilt"
        return
    fi
    if [ -z "$rebuild" ]; then
        t=$(date +%s.%N)
        if out=$(timeout "$PULL_TIMEOUT" docker pull -q "$image" 2>&1); then
            log "$image: pulled the real image in $(elapsed "$t")"
            return
        fi
        log "$image: cannot be pulled ($(elapsed "$t"): ${out##*$'\n'})"
    fi
    build_base
    t=$(date +%s.%N)
    old=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    log "$image: building a local stand-in from $dir"
    docker build --build-arg "BASE=$BASE_IMAGE" --label "$LABEL=true" --label "$LABEL.source=$source" \
        -t "$image" "$dir" \
        >"/tmp/standin-build-${image//[:\/]/_}.log" 2>&1 ||
        { tail -n 30 "/tmp/standin-build-${image//[:\/]/_}.log" >&2; die "$image: build failed"; }
    log "$image: STAND-IN built in $(elapsed "$t"), $(size_of "$image")"
    # the stand-in this one replaces, unless a container or another tag still uses it
    if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
        docker rmi "$old" >/dev/null 2>&1 || true
    fi
}

standin python:3.11-slim "$HERE/python"
standin redis:7 "$HERE/redis"
standin postgres:16 "$HERE/postgres"
standin mongo:7 "$HERE/mongo"

log "done in $(elapsed "$T_ALL")"
for image in "$BASE_IMAGE" python:3.11-slim redis:7 postgres:16 mongo:7; do
    present "$image" || continue
    if is_standin "$image"; then kind="local stand-in"; else kind="real image"; fi
    printf '  %-24s %-15s %s\n' "$image" "$kind" "$(size_of "$image")"
done
