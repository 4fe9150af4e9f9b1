"""The platform's Celery app, with every training held at its start (after the claim, before
any fitting) for as long as the file TRAIN_GATE exists, at most TRAIN_HOLD_S seconds (120 by
default), so that a test can kill a trainer mid-training, or look at a run a live trainer
holds, and then let it go on by deleting the file (a breast_cancer fit takes well under a
second otherwise). Started as `celery -A tests.workers.slow_training worker`."""

import os
import time

from celery.signals import worker_process_init

from myproject import celery_app as app  # noqa: F401  (the app celery -A looks for)


@worker_process_init.connect
def _hold_trainings(**_):
    # In each pool process, once Django is set up (the platform's modules need it).
    from predictor import training

    train = training.train
    gate = os.environ.get("TRAIN_GATE")
    hold_s = float(os.environ.get("TRAIN_HOLD_S", "120"))

    def held(*args, **kwargs):
        deadline = time.monotonic() + hold_s
        while gate and os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        return train(*args, **kwargs)

    training.train = held
