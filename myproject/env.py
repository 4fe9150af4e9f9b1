"""Reading settings from the environment: typed, with safe defaults, failing loudly when a
value is malformed. Any string value may come from a file instead: `NAME_FILE=/path` (the
Docker and Kubernetes secrets convention), so a secret need not sit in the environment.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_raw(name: str) -> str | None:
    """NAME's value, or the content of the file NAME_FILE names (without its final newline)."""
    value, path = os.environ.get(name), os.environ.get(f"{name}_FILE")
    if not path:
        return value
    if value:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    try:
        return Path(path).read_text().removesuffix("\n")
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None


def env_str(name: str, default: str) -> str:
    return env_raw(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = env_raw(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env_raw(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = env_raw(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]
