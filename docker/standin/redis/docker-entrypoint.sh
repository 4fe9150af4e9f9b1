#!/bin/sh
# The official redis image's entrypoint contract, on Debian's redis-server.
set -e

# `docker run redis:7 --appendonly yes` or `... /path/redis.conf`: the server's arguments.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
    # The official image builds Redis with protected mode off (inside a container every client
    # is "remote"); Debian's build has it on, and with no password it would refuse every other
    # container. Off unless a given config file or argument says otherwise.
    shift
    conf=
    case "${1:-}" in *.conf) conf=$1; shift ;; esac
    explicit=no
    for arg in "$@"; do [ "$arg" = --protected-mode ] && explicit=yes; done
    if [ -n "$conf" ] && grep -qE '^[[:space:]]*protected-mode' "$conf"; then explicit=yes; fi
    if [ "$explicit" = no ]; then
        set -- --protected-mode no "$@"
    fi
    set -- redis-server ${conf:+"$conf"} "$@"

    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' +
        um=$(umask)
        [ "$um" = 0022 ] && umask 0077
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
