"""A token (simplejwt's view: username and password in, access and refresh tokens out), and
the prediction."""

from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView

from .views import PredictView

urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/predict/", PredictView.as_view()),
]
