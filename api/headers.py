"""The request headers a submit reads besides its body: Cancel-After and Idempotency-Key
(`Prefer: wait` is api/waiting.py's). Each bad value is a 400 naming the header, raised
before anything is written."""

import re
from datetime import datetime, timedelta

from rest_framework import serializers

from predictor import history

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h)?\s*$")
# A deadline longer than a day is a mistake more often than a plan.
MAX_CANCEL_AFTER = timedelta(hours=24)


def parse_cancel_after(header: str | None, field: str | None) -> datetime | None:
    raw = header if header is not None else field
    if raw is None:
        return None
    match = _DURATION.match(raw)
    if not match:
        raise serializers.ValidationError(
            {"cancel_after": ["Use seconds or a unit: `90`, `30s`, `5m`, `1h`."]}
        )
    digits = match.group(1).lstrip("0") or "0"
    unit = {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    # Over 6 digits is over a day in any unit; int() would raise on over 4,300 of them.
    if len(digits) > 6 or not 1 <= int(digits) * unit <= MAX_CANCEL_AFTER.total_seconds():
        raise serializers.ValidationError({"cancel_after": ["Must be from 1 second to 24 hours."]})
    return history.now() + timedelta(seconds=int(digits) * unit)


# As Stripe's: room for any UUID or client-made key, and a bound on what a key stores.
IDEMPOTENCY_KEY_MAX_LENGTH = 255


def parse_idempotency_key(header: str | None) -> str | None:
    """The Idempotency-Key header, or None when absent or empty."""
    if not header:
        return None
    if len(header) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise serializers.ValidationError(
            {"Idempotency-Key": [f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters; a UUID is ideal."]}
        )
    return header
