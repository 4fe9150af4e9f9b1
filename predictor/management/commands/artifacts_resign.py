from django.core.management.base import BaseCommand, CommandError

from predictor.artifacts import ArtifactError, artifact_check_stored, artifact_sign
from predictor.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Sign every registered model version again with the current ARTIFACT_SIGNING_KEY "
        "(or DJANGO_SECRET_KEY), after a key change made them unloadable. Each artifact must "
        "still be in the store and hash to the value the registry holds; run it only on a "
        "registry you trust."
    )

    def handle(self, *args, **options):
        failures = []
        for version in ModelVersion.objects.select_related("model").order_by("model__name", "number"):
            try:
                artifact_check_stored(version.artifact_sha256)
            except ArtifactError as exc:
                failures.append(f"{version}: {exc}")
                continue
            version.artifact_signature = artifact_sign(
                version.artifact_sha256, sklearn_version=version.sklearn_version
            )
            version.save(update_fields=["artifact_signature"])
            self.stdout.write(f"signed {version}")
        if failures:
            raise CommandError("not signed:\n" + "\n".join(failures))
