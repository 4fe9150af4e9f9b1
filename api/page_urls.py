from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from .middleware import page_csp
from .throttles import AuthRateThrottle, page_throttle
from .views import (
    batch_pages,
    dashboard,
    dataset_pages,
    flower,
    model_actions,
    model_new_page,
    model_pages,
    pages,
    predict_pages,
)

# The pages people use (session login); mounted at the site root.
urlpatterns = [
    path("", pages.index_page, name="index"),
    path("accounts/login/", page_throttle(AuthRateThrottle)(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/register/", pages.register_page, name="register-page"),
    path("home/", dashboard.home_page, name="home"),
    path("profile/", pages.profile_page, name="profile"),
    path("accounts/password/", pages.password_page, name="password-page"),
    path("predict/", predict_pages.predict_page, name="predict"),
    # Many rows: pasted, or a CSV file of any size, streamed as it arrives; the one page path
    # whose bodies may be as large as a batch file (api/middleware.py, BATCH_UPLOAD_PATHS).
    path("predict/batch/", predict_pages.predict_batch_page, name="predict-batch"),
    path("predict/template.csv", predict_pages.predict_template_csv_page, name="predict-template-csv"),
    path("history/", pages.history_page, name="history"),
    path("history.csv", pages.history_csv_page, name="history-csv"),
    path("history/<str:job_id>/", pages.job_page, name="job"),
    path("history/<str:job_id>/results.csv", pages.job_results_csv_page, name="job-results-csv"),
    path("history/<str:job_id>/cancel/", pages.job_cancel_page, name="job-cancel"),
    path("history/<str:job_id>/feedback/", pages.job_feedback_page, name="job-feedback"),
    path("batches/<uuid:batch_id>/", batch_pages.batch_page, name="batch"),
    path("batches/<uuid:batch_id>/results.csv", batch_pages.batch_results_csv_page, name="batch-results-csv"),
    path("batches/<uuid:batch_id>/cancel/", batch_pages.batch_cancel_page, name="batch-cancel-page"),
    path("models/", model_pages.models_page, name="models"),
    path("models/new/", model_new_page.model_new_page, name="model-new"),
    path("models/<slug:name>/train/", model_actions.model_train_page, name="model-train"),
    path("models/<slug:name>/rollback/", model_actions.model_rollback_page, name="model-rollback"),
    path(
        "models/<slug:name>/versions/<int:number>/promote/",
        model_actions.model_promote_page,
        name="model-promote",
    ),
    # Uploads post to "datasets/" itself: the one page path whose bodies may be as large as a
    # dataset (api/middleware.py, LARGE_UPLOAD_PATHS).
    path("datasets/", dataset_pages.datasets_page, name="datasets"),
    path("datasets/<slug:name>/", dataset_pages.dataset_page, name="dataset"),
    path("datasets/<slug:name>/delete/", dataset_pages.dataset_delete_page, name="dataset-delete"),
    # Staff only. Flower runs with --url_prefix=flower, so its own paths pass unchanged.
    re_path(r"^flower/(?P<path>.*)$", flower.flower_proxy, name="flower"),
]

# Every page but Flower's (which brings inline scripts of its own) answers with the pages'
# Content-Security-Policy: scripts from this site only, none inline.
for pattern in urlpatterns:
    if pattern.name != "flower":
        pattern.callback = page_csp(pattern.callback)
