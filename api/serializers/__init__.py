"""What the API takes and shows, by area; every serializer is importable from here."""

from .accounts import (
    PROFILE_FIELDS,
    LogoutInputSerializer,
    PasswordChangeInputSerializer,
    ProfileSerializer,
    RegisterInputSerializer,
)
from .batches import BatchJobSerializer, BatchSubmitSerializer
from .datasets import (
    DatasetSerializer,
    DatasetSummarySerializer,
    DatasetUploadSerializer,
    DatasetVersionSerializer,
    ModelCreateSerializer,
    ModelImportCreateSerializer,
)
from .models import (
    ConfusionMatrixSerializer,
    ModelSerializer,
    ModelVersionSerializer,
    PredictedVsActualSerializer,
    SamplesInputSerializer,
    TargetRangeSerializer,
    TrainingInputSerializer,
    TrainingRunSerializer,
    VersionDiagnosticsSerializer,
)
from .predictions import (
    VERSION_MAX,
    FeedbackInputSerializer,
    HistoryFilterSerializer,
    HistoryPageSerializer,
    JobMetricsSerializer,
    JobUrlsSerializer,
    PredictionInputSerializer,
    PredictionJobSerializer,
    WebhookDeliverySerializer,
    WebhookSecretSerializer,
)
