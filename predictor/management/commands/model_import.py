from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from predictor import history, imports, model_files
from predictor.artifacts import artifact_store_bytes
from predictor.training import model_defined, stale_cutoff, training_execute


class Command(BaseCommand):
    help = (
        "Import a model file as a new version of a defined model, from the server's command "
        "line: checked, scored on the model's held-out rows and judged by the promotion gate "
        "as over HTTP (POST /api/v1/models/{name}/versions/), run here rather than on a worker. "
        "A skops file only, unless --allow-pickle: then a joblib file is loaded here (running "
        "whatever code it holds: only a file you trust) and stored as skops."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="the model's name")
        parser.add_argument("file", help="a .skops file (or, with --allow-pickle, a joblib file)")
        parser.add_argument(
            "--allow-pickle", action="store_true", help="load a joblib/pickle file (staff only: it runs code)"
        )

    def handle(self, *args, model, file, allow_pickle, **options):
        data = Path(file).read_bytes()
        if model_files.file_kind(data[:8]) == model_files.PICKLE:
            if not allow_pickle:
                raise CommandError(model_files.PICKLE_MESSAGE)
            import joblib

            data = model_files.dumps(joblib.load(file))
        model_defined(model)
        try:
            imports.import_check(data)
        except model_files.ModelFileRefused as exc:
            raise CommandError(exc.message) from None
        history.connect()
        run = history.training_create(
            model=model, params={}, trigger="import", artifact_sha256=artifact_store_bytes(data)
        )
        try:
            training_execute(
                run.id,
                stale_before=stale_cutoff(settings.TRAINING_TIME_LIMIT),
                max_attempts=settings.TRAINING_MAX_ATTEMPTS,
            )
        except Exception:
            pass
        run = history.training_get(run.id)
        if run.status != history.SUCCEEDED:
            raise CommandError(f"{model}: import failed: {run.error}")
        self.stdout.write(f"{model}: v{run.version} {run.decision} ({run.decision_reason}) {run.metrics}")
