#!/bin/sh
# Entrypoint of the mongo:7 stand-in (SecantusDB).
set -e

default="python -m secantus --host 0.0.0.0 --port 27017 --storage-path /data/db --standalone"
# `docker run mongo:7 --log-level DEBUG`: more arguments for the server.
if [ "${1#-}" != "$1" ]; then
    # shellcheck disable=SC2086
    set -- $default "$@"
fi

# The official image creates a root user from these on first start; SecantusDB's users work
# differently (createUser, then --auth): refuse rather than run open while asked for auth.
if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}${MONGO_INITDB_ROOT_USERNAME_FILE:-}" ]; then
    echo >&2 "error: MONGO_INITDB_ROOT_USERNAME is not supported by the mongo:7 stand-in (SecantusDB)"
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    find /data/db /data/configdb \! -user mongodb -exec chown mongodb:mongodb '{}' +
    export HOME=/data/db
    exec setpriv --reuid=mongodb --regid=mongodb --init-groups "$@"
fi
exec "$@"
