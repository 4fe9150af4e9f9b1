"""The platform's Celery app, with every prediction of more than one row (a batch job, or
a micro-batch of one-row jobs) held for half a second first, so that `make chaos` can kill
a worker while it holds one (they take a few milliseconds otherwise). Started as
`celery -A tests.chaos.slow_batches worker`."""

import time

from celery.signals import worker_process_init

from myproject import celery_app as app  # noqa: F401  (the app celery -A looks for)

HOLD_S = 0.5


@worker_process_init.connect
def _hold_batches(**_):
    # In each pool process, once Django is set up (the platform's modules need it).
    from predictor import predictions

    predict_rows = predictions.predict_rows

    def held(pipeline, rows, *rest):
        if len(rows) > 1:
            time.sleep(HOLD_S)
        return predict_rows(pipeline, rows, *rest)

    predictions.predict_rows = held
