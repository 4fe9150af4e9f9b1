from django.apps import AppConfig


class PredictorConfig(AppConfig):
    name = "predictor"
    verbose_name = "Models and predictions"

    def ready(self):
        from . import history

        # Lazy: no socket is opened until the first query.
        history.connect()
