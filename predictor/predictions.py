"""A prediction: its checks before a job exists (web side), and its run (worker side)."""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings

from myproject import logs

from . import history, registry
from .artifacts import ArtifactError
from .definitions import UnknownModel
from .inference import pipeline_get, predict_rows
from .validation import InvalidInput, known_categories, rows_validate, rows_warnings

logger = logging.getLogger(__name__)

# A 400 lists at most this many bad fields: enough to fix a batch, small enough to read.
MAX_REPORTED_ERRORS = 50


class UnknownVersion(Exception):
    """The model exists, but has no version of this number."""


def version_chosen(model_name: str, number: int | None, user):
    """The version a prediction (or a batch file) asks for: `number`, or the serving champion when None. A
    model the user may not see is UnknownModel, exactly as one that does not exist."""
    if number is None:
        version = registry.champion_serving(model_name)
        if version is None or not registry.can_see(user, version.model):
            raise UnknownModel(model_name)
        return version
    version = registry.version_get(model_name, number)
    if version is None:
        model = registry.model_get(model_name)
        if model is None or not registry.can_see(user, model):
            raise UnknownModel(model_name)
        raise UnknownVersion(f"{model_name} has no version {number}")
    if not registry.can_see(user, version.model):
        raise UnknownModel(model_name)
    return version


# Each version's known categories, built once per process rather than on every submit (a
# feature may have thousands). A version's schema never changes; its artifact names it.
_known_by_version: dict[str, dict[str, frozenset]] = {}
KNOWN_CACHED_MAX = 256


def _known(version) -> dict[str, frozenset]:
    known = _known_by_version.get(version.artifact_sha256)
    if known is None:
        if len(_known_by_version) >= KNOWN_CACHED_MAX:
            _known_by_version.clear()
        known = _known_by_version[version.artifact_sha256] = known_categories(version.feature_schema)
    return known


def prediction_prepare(
    *,
    model_name: str,
    user,
    input: dict | None = None,
    inputs: list | None = None,
    version: int | None = None,
) -> dict:
    """Validate one row or a batch against the chosen version (default: the champion) that
    `user` may use.

    Returns the job's fields, naming exactly which artifact will serve it. Writes nothing.
    """
    chosen = version_chosen(model_name, version, user)
    fields = {
        "model": model_name,
        "version": chosen.number,
        "artifact_sha256": chosen.artifact_sha256,
        "sklearn_version": chosen.sklearn_version,
        "artifact_signature": chosen.artifact_signature,
    }
    if inputs is not None:
        if not inputs:
            raise InvalidInput({"inputs": ["Send at least one row."]})
        if len(inputs) > settings.PREDICTION_MAX_BATCH_ROWS:
            limit = settings.PREDICTION_MAX_BATCH_ROWS
            raise InvalidInput({"inputs": [f"At most {limit} rows per batch; got {len(inputs)}."]})
        rows, where = inputs, lambda index: f"inputs[{index}]"
    else:
        rows, where = [input], lambda index: "input"
    clean = rows_validate(chosen.feature_schema, rows, where=where, max_errors=MAX_REPORTED_ERRORS)
    warnings = rows_warnings(chosen.feature_schema, clean, known=_known(chosen))
    if warnings:
        fields["warnings"] = warnings
    spellings = {f["name"]: f["spellings"] for f in chosen.feature_schema if f.get("spellings")}
    if spellings:
        fields["spellings"] = spellings
    return {**fields, "inputs": clean} if inputs is not None else {**fields, "input": clean[0]}


# Workers look for queued jobs to batch only when they are behind: a job that waited
# longer than this in the queue says others are waiting too. A worker keeping up starts
# a job within a few milliseconds, and saves the look (a MongoDB query) on every job.
BEHIND = timedelta(milliseconds=20)


def prediction_run(
    job_id: str,
    *,
    on_event=lambda event, job: None,
    requeue=lambda job_id: None,
    batch_max_jobs: int = 1,
    batch_wait_s: float = 0.0,
    failure_message=lambda exc: f"prediction failed: {exc}",
    worker: str | None = None,
    held: int | None = None,
    held_with: list[str] | tuple[str, ...] = (),
    held_in_redis: bool = False,
    lost: int = 0,
    on_claimed=lambda jobs: None,
    reserve_peers=None,
) -> list[history.ClaimedJob]:
    """Run a job, and with it (when it is a first try of one row) up to `batch_max_jobs - 1`
    queued one-row jobs of the same model version: one vectorised predict, one bulk write,
    each job with its own status, result, timings, attempts and events. Returns the jobs
    finished here (none when the job was finished, gone, or held by another batch).

    `on_event("start" | "completed", job)` hears each job's progress (webhooks, waiters);
    `requeue(job_id)` publishes again a job an earlier, lost delivery had claimed with this one;
    `worker` (the Celery node name) is recorded on each job run here; `held`: this is a
    retry of the job's task, whose earlier try claimed the job as this attempt, with the
    peers `held_with`, and ended without knowing which of their ends MongoDB took (it
    failed the finish), `held_in_redis` when that try held the job in Redis only (a first
    delivery, prediction_run_claimed); `lost`: deliveries that began and died unknown to
    MongoDB (history.job_claim); `on_claimed(jobs)` hears the jobs this try holds,
    the job first, so that its own retry can say so; `reserve_peers(ids)` keeps those of a
    micro-batch's candidates that no first delivery runs (workers/claims.py).
    """
    if held is not None:
        earlier = {"held": held, "peers": list(held_with), "in_redis": held_in_redis}
        _earlier_ends(job_id, **earlier, on_event=on_event, requeue=requeue)
    job, released = history.job_claim(job_id, worker=worker, held=held, lost=lost)
    for orphan in released:
        requeue(orphan)
    if job is None:
        logger.info("job %s is finished, gone or running elsewhere; nothing to run", job_id)
        return []
    return prediction_run_claimed(
        job,
        on_event=on_event,
        batch_max_jobs=batch_max_jobs,
        batch_wait_s=batch_wait_s,
        failure_message=failure_message,
        on_claimed=on_claimed,
        reserve_peers=reserve_peers,
    )


def prediction_run_claimed(
    job: history.ClaimedJob,
    *,
    on_event=lambda event, job: None,
    batch_max_jobs: int = 1,
    batch_wait_s: float = 0.0,
    failure_message=lambda exc: f"prediction failed: {exc}",
    on_claimed=lambda jobs: None,
    reserve_peers=None,
    mark_after_s: float | None = None,
    on_marked=lambda job: None,
) -> list[history.ClaimedJob]:
    """Run a job this delivery holds (prediction_run's second half). A job held in Redis
    only (`job.marked` False: a first delivery, from its message) has its claim written to
    MongoDB once its run lasts `mark_after_s`, so that a run longer than a moment shows
    `running` and is rescued as any other if its worker dies; `on_marked(job)` hears it."""
    on_claimed([job])
    marker = None
    if not job.marked and mark_after_s is not None:
        marker = _RunningMark(job, mark_after_s, on_marked)
    with logs.about_job(job.id, job.model, job.version, request=job.request_id):
        try:
            if job.attempts > settings.PREDICTION_MAX_ATTEMPTS:
                error = f"gave up after {job.attempts - 1} attempts that never finished (worker lost)"
                return _finish([(job, {"status": history.FAILED, "error": error})], on_event, marker)
            jobs = [job]
            behind = job.started_at - job.created_at > BEHIND
            if behind and job.attempts == 1 and not job.is_batch and batch_max_jobs > 1:
                jobs += _peers(job, limit=batch_max_jobs - 1, wait_s=batch_wait_s, reserve=reserve_peers)
                on_claimed(jobs)
            try:
                return _run(jobs, on_event, marker)
            except history.HistoryUnavailable:
                # MongoDB did not take the ends (or the artifact could not be read): nothing
                # about the jobs is known to be wrong, and a failure could not be written either,
                # or, written a moment later, would end as failed a job whose prediction
                # succeeded. They stay running, held by this task; its retry claims them again
                # (`held`) and writes their ends.
                raise
            except Exception as exc:
                # Whatever stopped the run (a soft time limit included), every job it held ends.
                failed = [(each, {"status": history.FAILED, "error": failure_message(exc)}) for each in jobs]
                _finish(failed, on_event, marker)
                raise
        finally:
            if marker is not None:
                marker.stop()


class _RunningMark:
    """Writes a first delivery's claim to MongoDB (history.job_mark_running) if its run lasts
    `after_s`; stopped before the run's end is written, which then knows whether it was."""

    def __init__(self, job: history.ClaimedJob, after_s: float, on_marked):
        self._job, self._lock, self._stopped, self._on_marked = job, threading.Lock(), False, on_marked
        self._timer = threading.Timer(after_s, self._mark)
        self._timer.daemon = True
        self._timer.start()

    def _mark(self) -> None:
        with self._lock:
            if self._stopped:
                return
            try:
                if history.job_mark_running(self._job):
                    self._on_marked(self._job)
            except history.HistoryUnavailable as exc:
                # Its end cannot be written either, most likely: the run's retry decides.
                logger.warning("job %s: its running state not written (%s)", self._job.id, exc)

    def stop(self) -> None:
        self._timer.cancel()
        with self._lock:  # a mark being written ends first: the finish knows its outcome
            self._stopped = True


def _earlier_ends(job_id: str, *, held: int, peers: list[str], in_redis: bool, on_event, requeue) -> None:
    """Announce the ends the try being retried wrote but could not know of, and publish
    again the peers it held that it never ended (history.held_ends)."""
    ended, waiting = history.held_ends(job_id, held=held, peers=peers, in_redis=in_redis)
    for orphan in waiting:
        requeue(orphan)
    for job in ended:
        logger.info(
            "job %s %s (ended by an earlier try of task %s)",
            job.id,
            job.status,
            job_id,
            extra={"job_id": job.id, "model": job.model, "version": job.version, "status": job.status},
        )
        on_event("completed", job)


def _peers(leader: history.ClaimedJob, *, limit: int, wait_s: float, reserve) -> list[history.ClaimedJob]:
    peers = history.peers_claim(leader, limit=limit, reserve=reserve)
    # Others are queued, so more are likely on their way: wait for them once, briefly.
    if peers and len(peers) < limit and wait_s > 0:
        time.sleep(wait_s)
        peers += history.peers_claim(leader, limit=limit - len(peers), reserve=reserve)
    return peers


def _run(jobs: list[history.ClaimedJob], on_event, marker=None) -> list[history.ClaimedJob]:
    done, live = [], []
    for job in jobs:
        if _past_deadline(job):
            done.append((job, {"status": history.CANCELED, "error": history.DEADLINE_PASSED}))
        else:
            live.append(job)
            if job.attempts == 1:
                on_event("start", job)
    if live:
        done += _predict(live)
    return _finish(done, on_event, marker)


def _predict(jobs: list[history.ClaimedJob]) -> list[tuple[history.ClaimedJob, dict]]:
    first = jobs[0]
    try:
        # The job names its artifact, but only the registry's signature makes it loadable.
        pipeline = pipeline_get(
            first.artifact_sha256, sklearn_version=first.sklearn_version, signature=first.artifact_signature
        )
    except ArtifactError as exc:
        logger.error("job %s: %s", first.id, exc)
        return [(job, {"status": history.FAILED, "error": str(exc)}) for job in jobs]
    rows = [row for job in jobs for row in job.rows]
    # The feature order is the key order of the first row as read back from MongoDB: nothing
    # here reorders by the schema. It holds because prediction_prepare stored every row in
    # the version's schema order (validation.rows_validate), and that order comes back: a
    # one-row job's `input` is a BSON document, which keeps its keys' order (pymongo decodes
    # it into a dict in that order), and a batch's `inputs` is JSON text (history.batch_encode)
    # that orjson decodes in order too. Every row is then taken in that first row's order.
    # Jobs batched together share their version, and so its spellings.
    outputs = predict_rows(pipeline, rows, list(rows[0]), first.spellings)
    results, start = [], 0
    for job in jobs:
        mine = outputs[start : start + len(job.rows)]
        start += len(job.rows)
        for output, warnings in zip(mine, job.warnings or (), strict=False):
            if warnings:
                output["warnings"] = warnings
        if _past_deadline(job):
            results.append((job, {"status": history.CANCELED, "error": history.DEADLINE_PASSED}))
        else:
            results.append((job, {"status": history.SUCCEEDED, "output": mine if job.is_batch else mine[0]}))
    return results


def _past_deadline(job) -> bool:
    return job.cancel_after is not None and history.now() > job.cancel_after


def _finish(results: list[tuple[history.ClaimedJob, dict]], on_event, marker=None) -> list:
    if marker is not None:
        marker.stop()
    finished = history.claimed_finish(results)
    for job in finished:
        state = job.finish_state
        logger.info(
            "job %s %s",
            job.id,
            state["status"],
            extra={
                "job_id": job.id,
                "model": job.model,
                "version": job.version,
                "request_id": job.request_id,
                "status": state["status"],
                "error": state["error"],
                "attempts": job.attempts,
                "batch_of": job.claimed_by if job.claimed_by != job.id else None,
                "queue_s": round((job.started_at - job.created_at).total_seconds(), 3),
                "predict_s": round((state["completed_at"] - job.started_at).total_seconds(), 3),
            },
        )
        on_event("completed", job)
    return finished
