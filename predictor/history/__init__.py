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
)
from .jobs import (
    PredictionJob,
    job_claim,
    job_create,
    job_delete,
    job_finish,
    job_get,
    jobs_list,
    jobs_requeue_stale,
)
from .samples import LabelledSample, samples_add, samples_for
from .trainings import (
    DuplicateRun,
    TrainingRun,
    training_claim,
    training_create,
    training_finish,
    training_get,
    training_stage,
    trainings_list,
)


@guard
def ensure_indexes() -> None:
    for document in (PredictionJob, TrainingRun, LabelledSample):
        document.ensure_indexes()
