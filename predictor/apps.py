from django.apps import AppConfig


class PredictorConfig(AppConfig):
    name = "predictor"
    verbose_name = "Models and predictions"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from . import history, registry
        from .models import MLModel, ModelVersion

        # Lazy: no socket is opened until the first query.
        history.connect()
        # Any write to the registry's rows, however made (services, admin, shell), ends the
        # request path's cached view of who serves (registry.champion_serving).
        for model in (MLModel, ModelVersion):
            post_save.connect(
                registry.serving_changed, sender=model, dispatch_uid=f"serving-{model.__name__}"
            )
            post_delete.connect(
                registry.serving_changed, sender=model, dispatch_uid=f"serving-d-{model.__name__}"
            )
