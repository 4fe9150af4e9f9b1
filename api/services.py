"""Every write behind the API and the pages (HackSoft's services): accounts, predictions
and their feedback, training runs, the champion, labelled samples, webhook secrets. Reads
go through api/selectors.py."""

import logging
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from myproject import logs, metrics
from predictor import datasets, definitions, history, imports, registry, samples, webhooks
from predictor.artifacts import artifact_store_bytes
from predictor.batch_files import files_delete
from predictor.batches import batch_fields, batch_header_check
from predictor.models import Dataset, MLModel, ModelVersion
from predictor.predictions import UnknownVersion, prediction_prepare, version_chosen
from predictor.training import training_request
from workers.events import job_event
from workers.tasks import batch_ended, batch_enqueue, prediction_enqueue, training_enqueue

from .models import Profile

User = get_user_model()
logger = logging.getLogger(__name__)


# How long an Idempotency-Key is remembered (the same window as Stripe's).
IDEMPOTENCY_TTL = timedelta(hours=24)
# A request that reserved a key this long ago and wrote no job is dead: gunicorn's worker
# timeout (30 s) has ended it, and its MongoDB calls give up after 2 s.
IDEMPOTENCY_ABANDONED = timedelta(seconds=60)
# How long a replay waits for the first request's job to appear (it reserves the key a
# moment before it writes the job) before answering 409, "still in flight".
IDEMPOTENCY_REPLAY_WAIT_S = 10.0


class QueueUnavailable(Exception):
    """The broker could not take the task; no job was left behind."""


class IdempotencyConflict(Exception):
    """The key was used with another request body."""


class IdempotencyInFlight(Exception):
    """The key's first request has not written its job yet."""


@transaction.atomic
def user_register(*, username: str, email: str, password: str, profile: dict) -> User:
    user = User.objects.create_user(username=username, email=email, password=password)
    Profile.objects.create(user=user, **profile)
    return user


def user_token_revoke(*, refresh: str) -> None:
    """Blacklist one refresh token (log out), so it never mints another access token.
    simplejwt's TokenError when it is not a live refresh token of this site."""
    RefreshToken(refresh).blacklist()


def user_tokens_revoke(*, user) -> int:
    """Blacklist every refresh token of the user that is still alive ("log out everywhere").

    Returns how many. Access tokens are not stored: those already issued keep working until
    they expire (JWT_ACCESS_MINUTES), unless the password changed (see api/tokens.py).
    """
    alive = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    # ignore_conflicts: a rotation may blacklist one of them at the same moment.
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in alive], ignore_conflicts=True
    )
    return len(revoked)


@transaction.atomic
def user_password_change(*, user, password: str) -> None:
    """Set a new password and end every API session of the user.

    The new password alone already invalidates every token (their password claim no longer
    matches); blacklisting the refresh tokens as well keeps the outstanding-token records
    true to that, and does not depend on the claim.
    """
    user.set_password(password)
    user.save(update_fields=["password"])
    user_tokens_revoke(user=user)


def profile_ensure(*, user) -> Profile:
    """The user's profile; users made outside register (createsuperuser) get one here."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


def profile_update(*, profile: Profile, user_fields: dict, profile_fields: dict) -> Profile:
    user = profile.user
    for name, value in user_fields.items():
        setattr(user, name, value)
    for name, value in profile_fields.items():
        setattr(profile, name, value)
    with transaction.atomic():
        if user_fields:
            user.save(update_fields=list(user_fields))
        if profile_fields:
            profile.save(update_fields=list(profile_fields))
    return profile


def prediction_submit(
    *,
    user,
    model_name: str,
    input: dict | None = None,
    inputs: list | None = None,
    version: int | None = None,
    cancel_after: datetime | None = None,
    webhook: str | None = None,
    webhook_events_filter: list | None = None,
    idempotency_key: str | None = None,
    request_hash: str = "",
    on_created=lambda job_id: None,
) -> tuple[history.JobView, bool]:
    """Validate, record the job, then queue it. Returns (job, created).

    `on_created(job_id)` is called once the job is written and before it is queued (a
    waiter watches for its finish then: api/waiting.py).

    With an idempotency key, the same key and body return the first job (created False)
    instead of a second one; the key is reserved before the job is written, so racing
    requests agree on one job and one task. If queueing fails, job and key are removed.
    """
    fields = prediction_prepare(model_name=model_name, user=user, input=input, inputs=inputs, version=version)
    job_id = str(uuid.uuid4())
    if idempotency_key:
        earlier = _key_reserve(user=user, key=idempotency_key, request_hash=request_hash, item_id=job_id)
        if earlier is not None:
            return earlier, False
    # If MongoDB fails here, nothing was written; a retry with the key takes it over.
    job = history.job_create(
        job_id=job_id,
        owner_id=user.pk,
        cancel_after=cancel_after,
        webhook=webhook,
        webhook_events_filter=webhook_events_filter,
        request_id=logs.request_id.get(),
        **fields,
    )
    on_created(job.id)
    try:
        prediction_enqueue(job.id, job)
    except OperationalError as exc:
        _undo(job_id, user=user, idempotency_key=idempotency_key)
        raise QueueUnavailable(str(exc)) from exc
    metrics.job_submitted(job)
    logger.info(
        "job %s queued",
        job.id,
        extra={
            "job_id": job.id,
            "model": job.model,
            "version": job.version,
            "rows": len(inputs) if inputs is not None else 1,
        },
    )
    return job, True


def _undo(job_id: str, *, user, idempotency_key: str | None) -> None:
    try:
        history.job_delete(job_id)
        if idempotency_key:
            history.key_release(owner_id=user.pk, key=idempotency_key, job_id=job_id)
    except history.HistoryUnavailable:
        # MongoDB is gone too: the sweeper re-queues a job left queued, and the key expires.
        pass


def _key_reserve(*, user, key: str, request_hash: str, item_id: str, get=history.job_get):
    """Reserve the Idempotency-Key for a new job (or batch: `get`) `item_id`; returns what
    the key's earlier request made, or None when this request may go on."""
    held = history.key_claim(
        owner_id=user.pk, key=key, request_hash=request_hash, job_id=item_id, ttl=IDEMPOTENCY_TTL
    )
    if held is None:
        return None
    earlier = _replayed(held, request_hash=request_hash, get=get)
    if earlier is not None:
        return earlier
    # Nothing made yet. Only a first request that is surely dead (its key reserved long ago,
    # and nothing made) gives its key up; one still running would make a second one.
    stale = held.reserved_at < history.now() - IDEMPOTENCY_ABANDONED
    if not stale or not history.key_takeover(
        owner_id=user.pk, key=key, old_job_id=held.job_id, new_job_id=item_id
    ):
        raise IdempotencyInFlight("A request with this Idempotency-Key is still in flight; retry shortly.")
    return None


def _replayed(held, *, request_hash: str, get=history.job_get):
    """The job (or batch: `get`) the key already names, or None if its request never wrote one."""
    if held.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was used with a different request body; use a new key for a new request."
        )
    deadline = time.monotonic() + IDEMPOTENCY_REPLAY_WAIT_S
    while (job := get(held.job_id)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return job


def batch_submit(
    *,
    user,
    model_name: str,
    stored,
    version: int | None = None,
    key_column: str | None = None,
    webhook: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> tuple[history.BatchJob, bool]:
    """Check the stored file (api/uploads.py) against the version that will score it, record
    the batch and its chunks, then queue a task per chunk. Returns (batch, created). Whatever
    refuses it removes the file: a refused batch leaves nothing behind."""
    batch_id = str(uuid.uuid4())
    try:
        batch = _batch_record(
            batch_id,
            user=user,
            model_name=model_name,
            stored=stored,
            version=version,
            key_column=key_column,
            webhook=webhook,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
    except BaseException:
        files_delete(upload=stored.upload_id)
        raise
    if batch.id != batch_id:  # the key's earlier request: this upload is not needed
        files_delete(upload=stored.upload_id)
        return batch, False
    try:
        batch_enqueue(batch)
    except OperationalError as exc:
        _batch_undo(batch, user=user, idempotency_key=idempotency_key)
        raise QueueUnavailable(str(exc)) from exc
    metrics.batch_submitted(batch)
    logger.info(
        "batch %s queued",
        batch.id,
        extra={
            "batch_id": batch.id,
            "model": batch.model,
            "version": batch.version,
            "rows": batch.rows_total,
        },
    )
    return batch, True


def _batch_record(
    batch_id: str, *, user, model_name, stored, version, key_column, webhook, idempotency_key, request_hash
) -> history.BatchJob:
    chosen = version_chosen(model_name, version, user)
    scan = stored.scan
    batch_header_check(scan.header, chosen.feature_schema, key_column)
    if idempotency_key:
        earlier = _key_reserve(
            user=user, key=idempotency_key, request_hash=request_hash, item_id=batch_id, get=history.batch_get
        )
        if earlier is not None:
            return earlier
    return history.batch_create(
        batch_id=batch_id,
        spans=scan.chunks,
        chunk_files=stored.chunk_files,
        owner_id=user.pk,
        upload_id=stored.upload_id,
        filename=(stored.name or "")[:255],
        size_bytes=scan.size,
        header=scan.header,
        delimiter=scan.delimiter,
        key_column=key_column,
        webhook=webhook,
        rows_total=scan.rows,
        chunk_rows=settings.BATCH_CHUNK_ROWS,
        request_id=logs.request_id.get(),
        **batch_fields(chosen),
    )


def _batch_undo(batch: history.BatchJob, *, user, idempotency_key: str | None) -> None:
    """A batch whose chunks could not be queued: as if never submitted (nothing half-exists)."""
    try:
        history.batch_delete(batch.id)
        files_delete(upload=batch.upload_id)
        if idempotency_key:
            history.key_release(owner_id=user.pk, key=idempotency_key, job_id=batch.id)
    except history.HistoryUnavailable:
        # MongoDB is gone too: its chunks stay queued, and the sweeper publishes them later.
        pass


def batch_cancel(*, user, batch_id: str) -> history.BatchJob | None:
    """Cancel a queued or running batch (the chunks not started do not run); a finished one
    is returned unchanged; None when the user has no such batch."""
    batch, ended_here = history.batch_stop(batch_id, status=history.CANCELED, owner_id=user.pk)
    if ended_here:
        batch_ended(batch)
    return batch


def prediction_cancel(*, user, job_id: str) -> history.JobView | None:
    job, canceled = history.job_cancel(job_id, owner_id=user.pk)
    if canceled:
        job_event("completed", job)
    return job


def feedback_give(*, user, job: history.JobView, label, index: int | None) -> dict:
    """The true label (or value) of one row of the user's finished job, kept as a training
    sample; FeedbackRefused or FeedbackQuotaExceeded say why not."""
    return samples.feedback_record(job=job, label=label, index=index, given_by=user.pk)


def samples_add(*, user, model_name: str, rows: list | None = None, csv_text: str | None = None) -> dict:
    """Labelled rows for the model's next training (staff): all of them are stored, or none."""
    return samples.samples_upload(model_name=model_name, rows=rows, csv_text=csv_text, uploaded_by=user.pk)


def webhook_secret_get(*, user) -> str:
    """The user's webhook signing secret, made on first use."""
    return webhooks.secret_for(user.pk)


def training_submit(*, user, model_name: str, params: dict, trigger: str = "api") -> history.TrainingRun:
    """Record the training run, then queue it on the train queue (or remove it again)."""
    return _queued(
        training_request(model_name=model_name, params=params, requested_by=user.pk, trigger=trigger)
    )


def _queued(run: history.TrainingRun) -> history.TrainingRun:
    """The recorded run, queued on the train queue; removed again if the queue cannot take it."""
    try:
        training_enqueue(run.id)
    except OperationalError as exc:
        history.training_delete(run.id)
        raise QueueUnavailable(str(exc)) from exc
    return run


def _import_bytes(file) -> bytes:
    """An uploaded model file's bytes once checked (predictor/imports.py `import_check`: a
    pickle, an untrusted type, another scikit-learn version are a 400 naming them)."""
    data = file.read(settings.MODEL_IMPORT_MAX_BYTES + 1)
    imports.import_check(data)
    return data


def _import_submit(*, user, model: MLModel, data: bytes) -> history.TrainingRun:
    """Store checked bytes and queue the run that loads, scores and judges them; if the queue
    cannot take the run it is removed again (the stored bytes, unsigned, are never loaded)."""
    sha256 = artifact_store_bytes(data)
    return _queued(
        history.training_create(
            model=model.name, params={}, trigger="import", requested_by=user.pk, artifact_sha256=sha256
        )
    )


def version_import(*, user, model: MLModel, file) -> history.TrainingRun:
    """A model file as the next version of `model`: checked here, then loaded, scored on the
    model's held-out rows and judged by the gate on the training queue."""
    return _import_submit(user=user, model=model, data=_import_bytes(file))


def model_import_create(*, user, dataset: Dataset, dataset_version: int | None, artifact, **request) -> tuple:
    """A new model whose first version is an imported file: the file is checked first, then
    the model is defined on the dataset (its definition is what nightly retrains fit), then
    the import is queued. If the queue cannot take it, neither the definition nor the run is
    kept. Returns (model, notes, run)."""
    data = _import_bytes(artifact)
    return _define_then(
        user=user,
        dataset=dataset,
        dataset_version=dataset_version,
        request=request,
        first_run=lambda model: _import_submit(user=user, model=model, data=data),
    )


def dataset_create(*, user, name: str, file, visibility: str, description: str = ""):
    """Check, profile and store an uploaded CSV: a new dataset, or the next version of the
    user's dataset of that name. Nothing is kept unless all of it checks out."""
    return datasets.dataset_upload(
        name=name,
        stream=file,
        owner=user,
        filename=getattr(file, "name", "") or "",
        visibility=visibility,
        description=description,
    )


def dataset_remove(*, dataset: Dataset) -> None:
    """DatasetInUse, naming them, while a model or a model version learned from it."""
    datasets.dataset_delete(dataset)


def model_create(*, user, dataset: Dataset, dataset_version: int | None, **request) -> tuple:
    """Define the model from the dataset, then queue its first training. Returns (model,
    notes, run). If the queue cannot take it, neither the definition nor the run is kept."""
    return _define_then(
        user=user,
        dataset=dataset,
        dataset_version=dataset_version,
        request=request,
        first_run=lambda model: training_submit(
            user=user, model_name=model.name, params={}, trigger="create"
        ),
    )


def _define_then(*, user, dataset: Dataset, dataset_version: int | None, request: dict, first_run) -> tuple:
    """Define the model on the dataset's version, then queue its first run (`first_run`);
    if the queue cannot take it, the definition goes again. (model, notes, run)."""
    version = datasets.version_of(dataset, dataset_version)
    if version is None:
        raise definitions.DefinitionRefused(
            {"dataset_version": [f"{dataset.name} has no version {dataset_version}."]}
        )
    model, notes = definitions.model_define(owner=user, dataset_version=version, **request)
    try:
        run = first_run(model)
    except (QueueUnavailable, history.HistoryUnavailable):
        model.delete()
        raise
    return model, notes, run


@transaction.atomic
def model_delete(*, model: MLModel) -> None:
    """The model and its versions go (their artifacts stay in the store, which other versions
    may share); its labelled samples go too. Its users' job history stays theirs."""
    history.samples_delete(model=model.name)
    model.delete()


def version_promote_by(*, user, model_name: str, number: int) -> ModelVersion:
    version = registry.version_get(model_name, number)
    if version is None:
        raise UnknownVersion(f"{model_name} has no version {number}")
    return registry.version_promote(version, reason=f"promoted by {_who(user)}", by=user)


def version_rollback_by(*, user, model_name: str) -> ModelVersion:
    return registry.version_rollback(model_name, reason=f"rolled back by {_who(user)}", by=user)


def _who(user) -> str:
    # The public reason names a role, never the account (the admin keeps who, for audit).
    return "staff" if user.is_staff else "its owner"
