from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from .throttles import AuthRateThrottle, page_throttle
from .views import flower, pages

# The pages people use (session login); mounted at the site root.
urlpatterns = [
    path("", pages.index_page, name="index"),
    path("accounts/login/", page_throttle(AuthRateThrottle)(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/register/", pages.register_page, name="register-page"),
    path("home/", pages.home_page, name="home"),
    path("profile/", pages.profile_page, name="profile"),
    path("accounts/password/", pages.password_page, name="password-page"),
    path("predict/", pages.predict_page, name="predict"),
    path("history/", pages.history_page, name="history"),
    path("history.csv", pages.history_csv_page, name="history-csv"),
    path("history/<str:job_id>/", pages.job_page, name="job"),
    path("history/<str:job_id>/cancel/", pages.job_cancel_page, name="job-cancel"),
    path("history/<str:job_id>/feedback/", pages.job_feedback_page, name="job-feedback"),
    path("models/", pages.models_page, name="models"),
    # Staff only. Flower runs with --url_prefix=flower, so its own paths pass unchanged.
    re_path(r"^flower/(?P<path>.*)$", flower.flower_proxy, name="flower"),
]
