from django.core.management.base import BaseCommand, CommandError

from predictor.artifacts import ArtifactError, artifact_is_pickle, artifact_load, artifact_save, artifact_sign
from predictor.history import HistoryUnavailable
from predictor.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Rewrite every model version whose artifact is a joblib pickle (stored before artifacts "
        "were skops files) as a skops file, and sign it. Each pickle is loaded under its "
        "signature, as a worker would load it. Afterwards, ARTIFACTS_ALLOW_PICKLE=false makes "
        "a leaked signing key no longer mean running code. Safe to run again: skops versions "
        "are left as they are."
    )

    def handle(self, *args, **options):
        failures, converted = [], 0
        for version in ModelVersion.objects.select_related("model").order_by("model__name", "number"):
            try:
                if not artifact_is_pickle(version.artifact_sha256):
                    continue
                pipeline = artifact_load(
                    version.artifact_sha256,
                    sklearn_version=version.sklearn_version,
                    signature=version.artifact_signature,
                )
                sha256 = artifact_save(pipeline)
            except (ArtifactError, HistoryUnavailable) as exc:
                failures.append(f"{version}: {exc}")
                continue
            # The old artifact stays in the store: jobs queued with it still find it.
            version.artifact_sha256 = sha256
            version.artifact_signature = artifact_sign(sha256, sklearn_version=version.sklearn_version)
            version.save(update_fields=["artifact_sha256", "artifact_signature"])
            converted += 1
            self.stdout.write(f"converted {version}: {sha256[:12]}")
        self.stdout.write(f"{converted} converted")
        if failures:
            raise CommandError("not converted:\n" + "\n".join(failures))
