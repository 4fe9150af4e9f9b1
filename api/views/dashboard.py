"""The home page: a dashboard of the signed-in person's own jobs.

The last 24 hours by status, how long jobs took (selectors.jobs_summary), the latest
jobs, and the latest batch files with their progress (none: nothing shown). The live part
(`?part=live`, templates/api/_dashboard_live.html) refreshes itself with htmx: every
LIVE_POLL_S while a job or a batch is unfinished; once none is, a cheap check every
IDLE_POLL_S that answers 204 (htmx keeps the page as it is) until a new job or batch
appears, so one submitted elsewhere (the API, another tab) still shows up. Without
JavaScript the page is whole, and a reload shows the current state.
"""

import time

from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from redis.exceptions import RedisError

from predictor import history

from ..jobs import job_for_pages
from ..selectors import batches_recent, jobs_recent, jobs_summary
from ..services import profile_ensure
from ..templatetags.pages import duration
from .pages import HISTORY_SINCE, batches_for_pages

# The counts' window, and the History page's filter for it (its counts link there).
WINDOW_SINCE = "24h"
WINDOW = HISTORY_SINCE[WINDOW_SINCE][1]
RECENT = 10
RECENT_BATCHES = 5
LIVE_POLL_S = 2
IDLE_POLL_S = 10
# The summary is one aggregation over the window's jobs: a busy user's (100,000 jobs a
# day) costs the server real time, and an open dashboard asks every LIVE_POLL_S. So a
# summary is kept in the cache SUMMARY_HOLD_FACTOR times as long as it took (at most
# SUMMARY_HOLD_MAX_S): polling spends at most about 1/SUMMARY_HOLD_FACTOR of the
# database's time on it, and a cheap summary (a few ms) is never kept at all.
SUMMARY_HOLD_FACTOR = 20
SUMMARY_HOLD_MAX_S = 60

_CARDS = (
    (history.QUEUED, "queued"),
    (history.RUNNING, "running"),
    (history.SUCCEEDED, "succeeded"),
    (history.FAILED, "failed"),
    (history.CANCELED, "canceled"),
)


def home_page(request):
    live_part = request.GET.get("part") == "live"
    if not request.user.is_authenticated:
        # After the login, the whole page (never the bare fragment).
        to_login = redirect_to_login(reverse("home"))
        if live_part and request.headers.get("HX-Request"):
            # htmx would follow a redirect and put the login page inside the dashboard;
            # HX-Redirect sends the whole window there instead.
            response = HttpResponse(status=401)
            response["HX-Redirect"] = to_login.url
            patch_vary_headers(response, ["HX-Request"])
            return response
        return to_login
    if live_part:
        if (
            "newest" in request.GET
            and _newest_id(request.user) == request.GET["newest"]
            and _newest_batch_id(request.user) == request.GET.get("newest_batch", "")
        ):
            return HttpResponse(status=204)  # nothing new: htmx leaves the page as it is
        return render(request, "api/_dashboard_live.html", _live_context(request.user))
    context = {"profile": profile_ensure(user=request.user), **_live_context(request.user)}
    return render(request, "api/home.html", context)


def _newest_id(user) -> str:
    newest = jobs_recent(user, limit=1)
    return newest[0].id if newest else ""


def _newest_batch_id(user) -> str:
    newest = batches_recent(user, limit=1)
    return newest[0].id if newest else ""


def _live_context(user) -> dict:
    jobs = jobs_recent(user, limit=RECENT)
    batches = batches_for_pages(user, limit=RECENT_BATCHES)
    summary = _summary(user)
    counts = summary["by_status"]
    live = (
        counts[history.QUEUED] + counts[history.RUNNING] > 0
        or any(job.status not in history.FINISHED for job in jobs)
        or any(not batch["finished"] for batch in batches)
    )
    return {
        "jobs": [job_for_pages(job) for job in jobs],
        "batches": batches,
        "summary": summary,
        "cards": [{"status": status, "name": name, "count": counts[status]} for status, name in _CARDS],
        "timings": [
            {"id": "p50", "value": duration(summary["p50_s"]), "name": "median total time"},
            {"id": "p95", "value": duration(summary["p95_s"]), "name": "95th percentile total time"},
            {
                "id": "queue-p50",
                "value": duration(summary["queue_p50_s"]),
                "name": "median wait in the queue",
            },
        ],
        "window_since": WINDOW_SINCE,
        "live": live,
        "poll_s": LIVE_POLL_S if live else IDLE_POLL_S,
        "newest": jobs[0].id if jobs else "",
        "newest_batch": batches[0]["id"] if batches else "",
    }


def _summary(user) -> dict:
    key = f"dashboard-summary:{user.pk}"
    try:
        kept = cache.get(key)
    except RedisError:
        kept = None  # the cache only saves work; the summary is computed instead
    if kept is not None:
        return kept
    started = time.monotonic()
    summary = jobs_summary(user, since=history.now() - WINDOW)
    hold = min(SUMMARY_HOLD_MAX_S, int((time.monotonic() - started) * SUMMARY_HOLD_FACTOR))
    if hold >= 1:
        try:
            cache.set(key, summary, hold)
        except RedisError:
            pass
    return summary
