"""Flower for `make up`: `python -m myproject.flower` (the Procfile's `flower` entry).

Flower reads task and worker names from the workers' events, so it needs the broker and
its own password, not Django: it runs as `celery flower` without `-A myproject`, and is
exec'd with an environment rebuilt from an allow-list, so its /proc/<pid>/environ holds
none of the web's secrets (DJANGO_SECRET_KEY, DATABASE_URL, MONGODB_URI, ...).

It listens where FLOWER_URL tells the web to look, and only there: a unix socket
(`unix:///path/flower.sock`) in a directory no other user may enter, or a loopback TCP
address (`http://127.0.0.1:port`). People reach it through the web's `/flower/`, which
asks for a staff login first (api/views/flower.py).

This module imports only the standard library: the web's settings use `flower_address`,
and nothing here may pull Django into Flower's process.
"""

import ipaddress
import os
import stat
import sys
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

# Flower serves every page under /flower/, so the web proxies paths unchanged.
URL_PREFIX = "flower"
# Linux's sun_path holds 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH = 107
# What Flower's process gets from the environment it was started with; the broker URL and
# Flower's password are added under the names celery and Flower read.
KEPT_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONUNBUFFERED")


class FlowerAddress(NamedTuple):
    scheme: str  # "unix", "http" or "https"
    host: str  # empty for a unix socket
    port: int  # 0 for a unix socket
    socket_path: str  # empty unless scheme is "unix"


def flower_address(url: str) -> FlowerAddress:
    """FLOWER_URL parsed; ValueError, naming the problem, when it is not a usable address."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"FLOWER_URL={url!r}: a unix socket needs an absolute path, unix:///path")
        if len(os.fsencode(parts.path)) > MAX_SOCKET_PATH:
            raise ValueError(
                f"FLOWER_URL={url!r}: a unix socket path may be at most {MAX_SOCKET_PATH} bytes; "
                "choose a shorter one"
            )
        return FlowerAddress("unix", "", 0, parts.path)
    if parts.scheme in ("http", "https"):
        if not parts.hostname or parts.path.strip("/"):
            raise ValueError(
                f"FLOWER_URL={url!r}: give the address alone, {parts.scheme}://host:port "
                f"(Flower runs with --url_prefix={URL_PREFIX})"
            )
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"FLOWER_URL={url!r}: the port is not a number") from None
        return FlowerAddress(parts.scheme, parts.hostname, port, "")
    raise ValueError(f"FLOWER_URL={url!r}: use unix:///path/flower.sock or http://host:port")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def private_socket_directory(directory: Path) -> None:
    """Make (or accept) a directory only this user may enter.

    Flower 2.2 chmods its socket to 0777 (flower/app.py), so the directory is the lock:
    connecting to a unix socket needs search permission on every directory above it, and
    unix(7) advises exactly this, since some systems ignore a socket's own mode. An existing
    directory is never loosened or tightened here (a socket in /tmp must not chmod /tmp).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = directory.stat()
    if found.st_uid != os.getuid() or stat.S_IMODE(found.st_mode) & 0o077:
        raise ValueError(
            f"{directory} must belong to this user and be closed to others (chmod 700) "
            "before Flower's socket may go in it"
        )


def flower_command(address: FlowerAddress) -> list[str]:
    if address.scheme == "unix":
        listen = [f"--unix_socket={address.socket_path}"]
    elif address.scheme == "http" and _is_loopback(address.host):
        listen = [f"--address={address.host}", f"--port={address.port}"]
    else:
        raise ValueError(
            "make up runs Flower on a unix socket (unix:///path) or a loopback address "
            "(http://127.0.0.1:port); other addresses would expose it beside the web's login"
        )
    return [sys.executable, "-m", "celery", "flower", *listen, f"--url_prefix={URL_PREFIX}"]


def flower_environment(environ: dict) -> dict:
    """The allow-listed environment; KeyError when the broker or Flower's password is missing."""
    kept = {name: environ[name] for name in KEPT_VARIABLES if name in environ}
    # In the environment, not on the command line: /proc/<pid>/cmdline is readable by anyone.
    return {
        **kept,
        "CELERY_BROKER_URL": environ["REDIS_URL"],
        "FLOWER_BASIC_AUTH": environ["FLOWER_BASIC_AUTH"],
    }


def main() -> None:
    try:
        address = flower_address(os.environ.get("FLOWER_URL", ""))
        command = flower_command(address)
        env = flower_environment(os.environ)
        if address.scheme == "unix":
            private_socket_directory(Path(address.socket_path).parent)
    except KeyError as missing:
        sys.exit(f"Flower needs {missing.args[0]} in the environment")
    except ValueError as problem:
        sys.exit(str(problem))
    # exec, not a child: the process honcho stops is Flower itself, and the secrets this
    # launcher was started with are gone from it.
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
