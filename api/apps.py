from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Accounts and API"

    def ready(self):
        from predictor import webhooks

        from .jobs import job_public
        from .serializers.batches import BatchJobSerializer

        # A webhook's body is the job as the API shows it (api/jobs.py); the workers that
        # send it load this app too, so they get the same shape without importing api.
        webhooks.job_body_set(job_public)
        webhooks.batch_body_set(lambda batch: BatchJobSerializer(batch).data)
