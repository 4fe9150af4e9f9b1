from django.contrib import admin
from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView

from api.throttles import AuthRateThrottle
from api.views.accounts import UserRegisterApi
from api.views.health import LivenessApi, ReadinessApi

urlpatterns = [
    # The seed's original endpoints, kept for existing clients.
    path("register/", UserRegisterApi.as_view(), name="register"),
    path("login/", TokenObtainPairView.as_view(throttle_classes=[AuthRateThrottle]), name="login-api"),
    path("healthz", LivenessApi.as_view(), name="healthz"),
    path("readyz", ReadinessApi.as_view(), name="readyz"),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("", include("api.page_urls")),
]
