"""The MongoDB history: the one package that owns the documents and their queries.

MongoDB is the source of truth for job state; nothing reads Celery's result backend.
"""

from .base import (
    CANCELED,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    HistoryUnavailable,
    connect,
    guard,
    now,
    queued_before,
    requeue_queued,
    requeue_stale,
)
from .batches import (
    PROGRESS_FIELDS,
    RESULTS_BUCKET,
    UPLOADS_BUCKET,
    BatchChunk,
    BatchJob,
    batch_chunks,
    batch_columns_set,
    batch_counts,
    batch_create,
    batch_delete,
    batch_end_if_done,
    batch_files_ensure_indexes,
    batch_get,
    batch_get_owned,
    batch_started,
    batch_stop,
    batch_webhook_handed,
    batches_ended_unfinished,
    batches_list,
    batches_webhook_unsent,
    chunk_claim,
    chunk_finish,
    chunk_give_up,
    chunk_id,
    chunk_workers,
    chunks_of,
    chunks_orphan,
    upload_mark,
    upload_unmark,
    uploads_abandoned,
)
from .claims import (
    ClaimedJob,
    claimed_finish,
    held_ends,
    job_claim,
    job_mark_running,
    job_message,
    job_workers,
    jobs_orphan,
    peers_claim,
)
from .deliveries import WebhookDelivery, deliveries_for, delivery_log
from .idempotency import IdempotencyKey, key_claim, key_release, key_takeover, keys_purge_expired
from .jobs import (
    DEADLINE_PASSED,
    JobView,
    PredictionJob,
    job_cancel,
    job_create,
    job_delete,
    job_finish,
    job_get,
    jobs_cancel_expired,
    ping,
    webhook_handed,
    webhooks_unsent,
)
from .listing import JobsQuery, jobs_page, jobs_summary
from .samples import (
    LabelledSample,
    sample_exists,
    sample_label,
    sample_upsert,
    samples_add,
    samples_count_since,
    samples_delete,
    samples_for,
)
from .trainings import (
    DuplicateRun,
    TrainingRun,
    training_claim,
    training_create,
    training_delete,
    training_finish,
    training_get,
    training_stage,
    training_workers,
    trainings_list,
    trainings_orphan,
)


@guard
def ensure_indexes() -> None:
    for document in (
        PredictionJob,
        TrainingRun,
        LabelledSample,
        IdempotencyKey,
        WebhookDelivery,
        BatchJob,
        BatchChunk,
    ):
        document.ensure_indexes()
    batch_files_ensure_indexes()
