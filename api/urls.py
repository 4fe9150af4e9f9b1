from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenRefreshView

from .errors import unknown_route
from .throttles import AuthRateThrottle
from .views.accounts import (
    ProfileMeApi,
    UserLoginApi,
    UserLogoutAllApi,
    UserLogoutApi,
    UserPasswordChangeApi,
    UserRegisterApi,
)
from .views.batches import BatchCancelApi, BatchDetailApi, BatchListCreateApi, BatchResultsApi
from .views.datasets import DatasetDetailApi, DatasetDownloadApi, DatasetListCreateApi
from .views.feedback import PredictionFeedbackApi
from .views.model_export import ModelVersionArtifactApi, ModelVersionCardApi
from .views.model_import import ModelVersionsApi
from .views.models import (
    EstimatorListApi,
    ModelDetailApi,
    ModelListApi,
    ModelRollbackApi,
    ModelSamplesApi,
    ModelVersionPromoteApi,
)
from .views.predictions import PredictionCancelApi, PredictionDetailApi, PredictionListCreateApi
from .views.trainings import TrainingDetailApi, TrainingListCreateApi
from .views.webhooks import BatchWebhookDeliveriesApi, PredictionWebhookDeliveriesApi, WebhookSecretApi

# Everything below is mounted at /api/v1/.
urlpatterns = [
    path("auth/register/", UserRegisterApi.as_view(), name="auth-register"),
    path("auth/token/", UserLoginApi.as_view(), name="auth-token"),
    path(
        "auth/token/refresh/",
        TokenRefreshView.as_view(throttle_classes=[AuthRateThrottle]),
        name="auth-token-refresh",
    ),
    path("auth/logout/", UserLogoutApi.as_view(), name="auth-logout"),
    path("auth/logout-all/", UserLogoutAllApi.as_view(), name="auth-logout-all"),
    path("auth/password/", UserPasswordChangeApi.as_view(), name="auth-password"),
    path("me/", ProfileMeApi.as_view(), name="me"),
    path("batches/", BatchListCreateApi.as_view(), name="batch-list"),
    path("batches/<uuid:batch_id>/", BatchDetailApi.as_view(), name="batch-detail"),
    path("batches/<uuid:batch_id>/results/", BatchResultsApi.as_view(), name="batch-results"),
    path("batches/<uuid:batch_id>/cancel/", BatchCancelApi.as_view(), name="batch-cancel"),
    path(
        "batches/<uuid:batch_id>/webhooks/",
        BatchWebhookDeliveriesApi.as_view(),
        name="batch-webhook-deliveries",
    ),
    path("datasets/", DatasetListCreateApi.as_view(), name="dataset-list"),
    path("datasets/<slug:name>/", DatasetDetailApi.as_view(), name="dataset-detail"),
    path(
        "datasets/<slug:name>/versions/<int:number>/download/",
        DatasetDownloadApi.as_view(),
        name="dataset-download",
    ),
    path("estimators/", EstimatorListApi.as_view(), name="estimator-list"),
    path("models/", ModelListApi.as_view(), name="model-list"),
    path("models/<slug:name>/", ModelDetailApi.as_view(), name="model-detail"),
    path("models/<slug:name>/versions/", ModelVersionsApi.as_view(), name="model-versions"),
    path(
        "models/<slug:name>/versions/<int:number>/artifact/",
        ModelVersionArtifactApi.as_view(),
        name="model-version-artifact",
    ),
    path(
        "models/<slug:name>/versions/<int:number>/card/",
        ModelVersionCardApi.as_view(),
        name="model-version-card",
    ),
    path(
        "models/<slug:name>/versions/<int:number>/promote/",
        ModelVersionPromoteApi.as_view(),
        name="model-version-promote",
    ),
    path("models/<slug:name>/rollback/", ModelRollbackApi.as_view(), name="model-rollback"),
    path("models/<slug:name>/samples/", ModelSamplesApi.as_view(), name="model-samples"),
    path("trainings/", TrainingListCreateApi.as_view(), name="training-list"),
    path("trainings/<str:run_id>/", TrainingDetailApi.as_view(), name="training-detail"),
    path("predictions/", PredictionListCreateApi.as_view(), name="prediction-list"),
    path("predictions/<str:job_id>/", PredictionDetailApi.as_view(), name="prediction-detail"),
    path("predictions/<str:job_id>/cancel/", PredictionCancelApi.as_view(), name="prediction-cancel"),
    path("predictions/<str:job_id>/feedback/", PredictionFeedbackApi.as_view(), name="prediction-feedback"),
    path(
        "predictions/<str:job_id>/webhooks/",
        PredictionWebhookDeliveriesApi.as_view(),
        name="prediction-webhook-deliveries",
    ),
    path("webhooks/default/secret/", WebhookSecretApi.as_view(), name="webhook-secret"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Last: anything else under /api/v1/ is a 404 in the API's JSON error shape.
    re_path(r"^[\s\S]*$", unknown_route),  # not ".*": a path with a newline is unknown too
]
