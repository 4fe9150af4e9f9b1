#!/bin/sh
# Entrypoint of the mongo:7 stand-in (SecantusDB), with the official image's authentication
# convention: MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD (or their _FILE
# forms) set means
#   - on the first start (an empty data directory): the server is started without auth on
#     127.0.0.1 only, the root user is created in admin (role root), the server is stopped;
#   - on every start: the server runs with --auth.
# Neither set: the server runs open, as before. The password never goes on a command line
# (`ps` shows those to every user): it reaches the one Python process that needs it through
# the environment, and is removed from the environment before the server starts.
set -e

default="python -m secantus --host 0.0.0.0 --port 27017 --storage-path /data/db --standalone"
# `docker run mongo:7 --log-level DEBUG`: more arguments for the server.
if [ "${1#-}" != "$1" ]; then
    # shellcheck disable=SC2086
    set -- $default "$@"
fi

die() { echo >&2 "error: $*"; exit 1; }

# NAME from NAME or from the file NAME_FILE names (Docker secrets), not both: as the
# official image's file_env.
file_env() {
    eval "value=\${$1:-}; file=\${$1_FILE:-}"
    if [ -n "$file" ]; then
        [ -z "$value" ] || die "both $1 and $1_FILE are set (but they are exclusive)"
        [ -r "$file" ] || die "$1_FILE: cannot read $file"
        value=$(cat "$file")
    fi
    unset "$1_FILE"
    if [ -n "$value" ]; then export "$1=$value"; else unset "$1"; fi
}
file_env MONGO_INITDB_ROOT_USERNAME
file_env MONGO_INITDB_ROOT_PASSWORD
if [ "${MONGO_INITDB_ROOT_USERNAME:+set}" != "${MONGO_INITDB_ROOT_PASSWORD:+set}" ]; then
    die "set both MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD, or neither"
fi

# Drop root first (the files are read above, as root), so the data the setup below writes
# belongs to the server's user: the same script again, as mongodb.
if [ "$(id -u)" = 0 ]; then
    find /data/db /data/configdb \! -user mongodb -exec chown mongodb:mongodb '{}' +
    export HOME=/data/db
    exec setpriv --reuid=mongodb --regid=mongodb --init-groups "$0" "$@"
fi

case " $* " in
    *" -m secantus "*) server=1 ;;
    *) server= ;;  # `docker run mongo:7 bash`, say: no server, nothing to set up
esac

if [ -n "$server" ] && [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]; then
    storage=/data/db
    previous=
    for arg in "$@"; do
        [ "$previous" != --storage-path ] || storage=$arg
        previous=$arg
    done
    # WiredTiger's own file is there from the server's first start on: an empty directory
    # is a first start (as the official image tells by its WiredTiger file, too).
    if [ ! -e "$storage/WiredTiger" ]; then
        # Another port than the real one: the healthcheck (which pings 27017) must not call
        # the container healthy while this temporary, loopback-only server runs.
        port=27016
        echo "first start: creating the root user $MONGO_INITDB_ROOT_USERNAME in admin"
        (unset MONGO_INITDB_ROOT_USERNAME MONGO_INITDB_ROOT_PASSWORD; exec "$@" --host 127.0.0.1 --port "$port") &
        pid=$!
        if ! SETUP_PORT=$port python - <<'PY'; then
import os

from pymongo import MongoClient

client = MongoClient(
    f"mongodb://127.0.0.1:{os.environ['SETUP_PORT']}/",
    directConnection=True,
    serverSelectionTimeoutMS=60_000,
)
client.admin.command(
    "createUser",
    os.environ["MONGO_INITDB_ROOT_USERNAME"],
    pwd=os.environ["MONGO_INITDB_ROOT_PASSWORD"],
    roles=[{"role": "root", "db": "admin"}],
)
client.close()
PY
            kill "$pid" 2>/dev/null || true
            wait "$pid" || true
            die "creating the root user failed"
        fi
        kill "$pid"
        wait "$pid" || true
        echo "first start: root user created; starting with --auth"
    fi
    case " $* " in
        *" --auth "*) ;;
        *) set -- "$@" --auth ;;
    esac
fi
unset MONGO_INITDB_ROOT_USERNAME MONGO_INITDB_ROOT_PASSWORD
exec "$@"
