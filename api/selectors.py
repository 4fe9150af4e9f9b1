"""Reads behind the API."""

import base64
import binascii
from datetime import datetime
from types import SimpleNamespace

from predictor import history, registry


class BadCursor(ValueError):
    pass


def cursor_encode(job: history.JobView) -> str:
    raw = f"{job.created_at.isoformat()}|{job.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, job_id = raw.split("|", 1)
        return datetime.fromisoformat(created_at), job_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor(cursor) from None


def model_list() -> list[SimpleNamespace]:
    return [SimpleNamespace(model=m, champion=c) for m, c in registry.models_with_champions()]


def model_detail(name: str) -> SimpleNamespace | None:
    model = registry.model_get(name)
    if model is None:
        return None
    return SimpleNamespace(model=model, champion=registry.champion_get(name))
