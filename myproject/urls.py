from django.contrib import admin
from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView

from api.throttles import AuthRateThrottle
from api.views.accounts import UserRegisterApi

urlpatterns = [
    # The seed's original endpoints, kept for existing clients.
    path("register/", UserRegisterApi.as_view(), name="register"),
    path("login/", TokenObtainPairView.as_view(throttle_classes=[AuthRateThrottle]), name="login-api"),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("", include("api.page_urls")),
]
