from django.contrib import admin
from django.urls import include, path

from api.throttles import AuthRateThrottle, page_throttle
from api.views.accounts import UserLoginApi, UserRegisterApi
from api.views.health import LivenessApi, ReadinessApi
from api.views.metrics import metrics_view

urlpatterns = [
    # The seed's original endpoints, kept for existing clients.
    path("register/", UserRegisterApi.as_view(), name="register"),
    path("login/", UserLoginApi.as_view(), name="login-api"),
    path("healthz", LivenessApi.as_view(), name="healthz"),
    path("readyz", ReadinessApi.as_view(), name="readyz"),
    # For Prometheus, behind METRICS_TOKEN (api/views/metrics.py).
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("api.urls")),
    # The admin's login takes the same per-address limit as every other login.
    path("admin/login/", page_throttle(AuthRateThrottle)(admin.site.login)),
    path("admin/", admin.site.urls),
    path("", include("api.page_urls")),
]
