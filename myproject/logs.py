"""Log lines that say whose they are.

Every line carries the request id and, when it is about a job, the job's id, model and
version. The request id comes from the client's `X-Request-ID` (or is made up when absent or
unfit), is answered back in the same header, rides every Celery task published while it is
current (a message header), and is current again in the worker that runs the task, so one
job can be followed through the web, the predict worker and the webhook worker:

    LOG_FORMAT=json  one JSON object a line (python-json-logger), for log collectors
    LOG_FORMAT=text  the default: a readable line, the same fields at its end
"""

import contextlib
import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# What a line may carry beyond its message, in this order.
FIELDS = ("request_id", "job_id", "model", "version")
HEADER = "X-Request-ID"
_FIT = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_job: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("job", default=None)


def request_id_from(header: str | None) -> str:
    """The client's request id when it is fit to log (short, no spaces or control
    characters: a forged line break must not start a fake log line), else a new one."""
    return header if header and _FIT.fullmatch(header) else uuid.uuid4().hex


@contextlib.contextmanager
def about_job(
    job_id: str, model: str | None = None, version: int | None = None, *, request: str | None = None
):
    """Lines logged inside carry the job (and `request` as the request id, when given: a
    re-published task carries none, the job remembers its own)."""
    job_token = _job.set((job_id, model, version))
    request_token = request_id.set(request or request_id.get())
    try:
        yield
    finally:
        request_id.reset(request_token)
        _job.reset(job_token)


class ContextFilter(logging.Filter):
    """Adds FIELDS to every record from the current context, unless the call gave them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        job = _job.get() or (None, None, None)
        for name, value in zip(FIELDS[1:], job, strict=True):
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """`time level logger message`, then the FIELDS that are set, as name=value."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = [f"{name}={value}" for name in FIELDS if (value := getattr(record, name, None)) is not None]
        return f"{line} [{' '.join(known)}]" if known else line


class JsonFormatter(_JsonFormatter):
    """time, level, logger, message, the FIELDS that are set, any `extra`, and the exception."""

    def __init__(self):
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def process_log_record(self, log_data):
        return {key: value for key, value in log_data.items() if value is not None}
