"""A user's history, newest first, a page at a time, at a cost that does not grow with it.

SecantusDB (the embedded server) answers a query by fetching every document its index
lookup yields, then sorting and cutting in Python: a page cost as much as reading the
user's whole history, and a filter its indexes do not cover exactly (status, version) fell
back to every job of the user. So a page is read in time windows walked back from the newest
end, each window a range on the (owner, [model,] created_at) indexes, widening while it finds
too little; status and version are checked on the window's jobs here. A page costs what its
windows hold, not what the history holds; on a real MongoDB the same ranges are index scans.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .base import STATUSES, guard, now, whole_ms
from .jobs import JobView, PredictionJob

MS = timedelta(milliseconds=1)
# The first window, and how much each next one grows: a busy user's page is found in the
# first window or two, a quiet user's after a few empty (cheap) ones.
FIRST_WINDOW = timedelta(seconds=1)
GROWTH = 4


@dataclass(frozen=True)
class JobsQuery:
    """The owner's jobs matching the filters, newest first (`created_after` inclusive,
    `created_before` exclusive)."""

    owner_id: int
    model: str | None = None
    version: int | None = None
    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def matches(self, doc: dict) -> bool:
        return (self.status is None or doc.get("status") == self.status) and (
            self.version is None or doc.get("version") == self.version
        )


EARLIEST = datetime.min.replace(tzinfo=UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@guard
def jobs_page(query: JobsQuery, *, limit: int, before: tuple[datetime, str] | None = None) -> list[JobView]:
    """One page of `query`; `before` is the (created_at, id) of the last job already seen."""
    # Windows are (lower, upper), both exclusive, each next one's upper one millisecond
    # above this one's lower: every stored millisecond is in exactly one window. ($gt and
    # $lt only: SecantusDB 0.7.0b3 drops documents equal to a $gte bound on a descending
    # compound-index key.) Stored times are whole milliseconds (base.now): bounds are cut
    # to that grain.
    upper = now() + MS
    if query.created_before is not None:
        upper = min(upper, _aware(query.created_before))
    seen_at = _aware(before[0]) if before is not None else None
    if seen_at is not None and seen_at < upper:
        upper = whole_ms(seen_at) + MS
    floor = whole_ms(_aware(query.created_after)) - MS if query.created_after is not None else EARLIEST
    found: list[dict] = []
    span, first = FIRST_WINDOW, True
    collection = PredictionJob._get_collection()
    while len(found) < limit and upper > floor:
        lower = max(upper - span, floor) if upper - EARLIEST > span else floor
        window = {"owner_id": query.owner_id}
        if query.model is not None:
            window["model"] = query.model
        window["created_at"] = {"$gt": lower, "$lt": upper}
        cursor = collection.find(window).sort([("created_at", -1), ("_id", -1)])
        # What is checked here, not by the server, needs every job of the window.
        if query.status is None and query.version is None and not (first and seen_at is not None):
            cursor = cursor.limit(limit - len(found))
        for doc in cursor:
            if first and seen_at is not None and doc["created_at"] == seen_at and doc["_id"] >= before[1]:
                continue  # on an earlier page
            if query.matches(doc):
                found.append(doc)
        if lower == floor:
            break
        upper, span, first = lower + MS, span * GROWTH, False
    return [JobView(doc) for doc in found[:limit]]


def _nearest_rank(percent: int) -> dict:
    """The expression picking the `percent`-th percentile of the sorted array `$v` by
    nearest rank: the element at 1-based rank ceil(percent * n / 100). The division is of
    integers, so the rank is exact (no 0.95 * n rounded up past a whole number)."""
    rank = {"$ceil": {"$divide": [{"$multiply": [percent, {"$size": "$v"}]}, 100]}}
    return {"$arrayElemAt": ["$v", {"$subtract": [rank, 1]}]}


def _percentiles(field: str, percents: tuple[int, ...]) -> list[dict]:
    """A $facet branch: how many documents have `field`, and its percentiles (milliseconds)."""
    return [
        {"$match": {field: {"$ne": None}}},
        {"$group": {"_id": None, "v": {"$push": f"${field}"}}},
        # $sortArray, not a $sort stage before $group: $push keeps the input's order in
        # practice, but MongoDB does not promise it.
        {"$set": {"v": {"$sortArray": {"input": "$v", "sortBy": 1}}}},
        {"$project": {"_id": 0, "n": {"$size": "$v"}, **{f"p{p}": _nearest_rank(p) for p in percents}}},
    ]


def _seconds_or_none(ms) -> float | None:
    return round(ms / 1000, 3) if ms is not None else None


@guard
def jobs_summary(owner_id: int, since: datetime) -> dict:
    """The owner's jobs created after `since`: how many there are in each status, and how
    long they took.

    Returns ``{"by_status": {status: count, ...} (all five, zeros included), "total": n,
    "finished": n, "p50_s", "p95_s": float | None, "started": n, "queue_p50_s": float | None}``:

    - ``finished``, ``p50_s``, ``p95_s``: over the jobs that have finished (succeeded,
      failed or canceled: they have a ``completed_at``), their total time ``completed_at -
      created_at`` (``metrics.total_s`` of the public job), in seconds;
    - ``started``, ``queue_p50_s``: over the jobs a worker has started (``started_at``),
      their wait in the queue ``started_at - created_at``.

    Percentiles are by nearest rank: of n values sorted ascending x_1 <= ... <= x_n, the
    p-th percentile is x_k with k = ceil(p * n / 100), always one of the values (the median
    of 1, 2, 3, 4 is 2; the p95 of 20 values is the 19th). None when there are no values.

    One aggregation: the range on the (owner_id, created_at) index picks the window, so
    the cost is that of the window's jobs, never of the whole history, and the server
    returns one small document: the counts, and the picked values (each percentile's
    values are sorted in the server, and only the chosen element comes back).
    ``$gt`` on the bound, as in jobs_page (SecantusDB and ``$gte`` on that index).
    """
    pipeline = [
        {"$match": {"owner_id": owner_id, "created_at": {"$gt": whole_ms(_aware(since))}}},
        # $subtract of dates is milliseconds; null when either date is missing or null.
        {
            "$project": {
                "_id": 0,
                "status": 1,
                "total_ms": {"$subtract": ["$completed_at", "$created_at"]},
                "queue_ms": {"$subtract": ["$started_at", "$created_at"]},
            }
        },
        {
            "$facet": {
                "by_status": [{"$group": {"_id": "$status", "n": {"$sum": 1}}}],
                "total": _percentiles("total_ms", (50, 95)),
                "queue": _percentiles("queue_ms", (50,)),
            }
        },
    ]
    [result] = PredictionJob._get_collection().aggregate(pipeline)
    by_status = dict.fromkeys(STATUSES, 0)
    for group in result["by_status"]:
        if group["_id"] in by_status:
            by_status[group["_id"]] = group["n"]
    total = result["total"][0] if result["total"] else {}
    queue = result["queue"][0] if result["queue"] else {}
    return {
        "by_status": by_status,
        "total": sum(by_status.values()),
        "finished": total.get("n", 0),
        "p50_s": _seconds_or_none(total.get("p50")),
        "p95_s": _seconds_or_none(total.get("p95")),
        "started": queue.get("n", 0),
        "queue_p50_s": _seconds_or_none(queue.get("p50")),
    }
