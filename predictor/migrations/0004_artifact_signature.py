from django.conf import settings
from django.db import migrations, models
from django.utils.crypto import salted_hmac


def sign_existing(apps, schema_editor):
    # Versions registered before signing existed are trusted as they stand today; the
    # computation is predictor.artifacts.artifact_sign, frozen here as migrations must be.
    ModelVersion = apps.get_model("predictor", "ModelVersion")
    key = settings.ARTIFACT_SIGNING_KEY or settings.SECRET_KEY
    for version in ModelVersion.objects.filter(artifact_signature=""):
        version.artifact_signature = salted_hmac(
            "predictor.artifacts",
            f"{version.artifact_sha256}:{version.sklearn_version}",
            secret=key,
            algorithm="sha256",
        ).hexdigest()
        version.save(update_fields=["artifact_signature"])


class Migration(migrations.Migration):
    dependencies = [
        ("predictor", "0003_webhook_secret"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="artifact_signature",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(sign_existing, migrations.RunPython.noop),
    ]
