from django.contrib.auth import views as auth_views
from django.urls import path

from .views import pages

# The pages people use (session login); mounted at the site root.
urlpatterns = [
    path("", pages.index_page, name="index"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/register/", pages.register_page, name="register-page"),
    path("home/", pages.home_page, name="home"),
    path("profile/", pages.profile_page, name="profile"),
    path("predict/", pages.predict_page, name="predict"),
    path("history/", pages.history_page, name="history"),
    path("history.csv", pages.history_csv_page, name="history-csv"),
    path("history/<str:job_id>/", pages.job_page, name="job"),
    path("history/<str:job_id>/cancel/", pages.job_cancel_page, name="job-cancel"),
    path("history/<str:job_id>/feedback/", pages.job_feedback_page, name="job-feedback"),
    path("models/", pages.models_page, name="models"),
]
