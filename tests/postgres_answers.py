"""Exit 0 when a PostgreSQL server answers at the URL given (its `postgres` database), else 1.

Used by `make test-postgres` (Makefile) to run the SQL-facing tests on PostgreSQL only where
one is reachable: CI has one; a new user's machine may not.
"""

import sys
from urllib.parse import unquote, urlsplit

import psycopg


def answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        psycopg.connect(
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            dbname="postgres",
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            connect_timeout=3,
        ).close()
    except psycopg.Error:
        return False
    return True


if __name__ == "__main__":
    sys.exit(0 if answers(sys.argv[1]) else 1)
