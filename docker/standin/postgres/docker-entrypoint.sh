#!/usr/bin/env bash
# The official postgres image's first-start contract, on Debian's PostgreSQL.
set -Eeuo pipefail

# VAR from VAR or from the file VAR_FILE names (Docker secrets), as the official image.
file_env() {
    local var=$1 file_var="${1}_FILE" def=${2:-}
    if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
        echo >&2 "error: both $var and $file_var are set (but are exclusive)"
        exit 1
    fi
    local val=$def
    if [ "${!var:-}" ]; then
        val=${!var}
    elif [ "${!file_var:-}" ]; then
        val=$(<"${!file_var}")
    fi
    export "$var"="$val"
    unset "$file_var"
}

# `docker run postgres:16 -c foo=bar`: the server's arguments.
if [ "${1:0:1}" = - ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 00700 "$PGDATA"
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 03775 /var/run/postgresql
    export HOME=/var/lib/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       (or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password)
MSG
        exit 1
    fi

    echo "initializing the database cluster in $PGDATA (PostgreSQL $(postgres --version | awk '{print $3}'), stand-in for postgres:16)"
    pwfile=()
    if [ -n "$POSTGRES_PASSWORD" ]; then
        pwfile_path=$(umask 077 && mktemp /tmp/pg-pw.XXXXXX)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile_path"
        pwfile=(--pwfile="$pwfile_path")
    fi
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" "${pwfile[@]}" \
        --encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS
    rm -f "${pwfile_path:-}"
    # Local socket and loopback: trust (initdb's default); every other address: the method.
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

    # A private server for the setup: no TCP, and a socket outside the usual directory, so a
    # healthcheck (pg_isready) cannot take it for the real one.
    init_sock=$(mktemp -d /tmp/pg-init.XXXXXX)
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k $init_sock" start
    export PGHOST=$init_sock PGUSER=$POSTGRES_USER PGPASSWORD=$POSTGRES_PASSWORD
    psql_=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --dbname postgres)

    if [ "$POSTGRES_DB" != postgres ]; then
        exists=$("${psql_[@]}" -tA -v db="$POSTGRES_DB" <<'SQL'
SELECT 1 FROM pg_database WHERE datname = :'db';
SQL
)
        if [ -z "$exists" ]; then
            "${psql_[@]}" -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
        fi
    fi

    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        case "$f" in
            *.sh)
                # shellcheck source=/dev/null
                if [ -x "$f" ]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
            *.sql) echo "running $f"; "${psql_[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql_[@]}" --dbname "$POSTGRES_DB" ;;
            *.sql.xz) echo "running $f"; xzcat "$f" | "${psql_[@]}" --dbname "$POSTGRES_DB" ;;
            *) echo "ignoring $f" ;;
        esac
    done

    pg_ctl -D "$PGDATA" -m fast -w stop
    rm -rf "$init_sock"
    unset PGHOST PGUSER PGPASSWORD
    echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
