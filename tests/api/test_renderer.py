"""api/renderers.py: orjson writes what DRF's own renderer wrote, value for value."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DRFRenderer

from api.renderers import JSONRenderer


def test_every_kind_of_value_renders_as_drf_rendered_it():
    data = {
        "stamp": datetime(2026, 11, 27, 1, 2, 3, 456789, tzinfo=UTC),
        "day": date(2026, 11, 27),
        "span": timedelta(seconds=90),
        "money": Decimal("1.10"),
        "id": uuid.UUID(int=7),
        "lazy": gettext_lazy("Not found."),
        "numbers": [1, 2.5, -0.0, 1e300],
        "text": "na\u00efve \u2603",
        "nested": {"list": [{"a": None, "b": True}]},
        7: "an integer key",
    }

    ours = JSONRenderer().render(data)

    assert json.loads(ours) == json.loads(DRFRenderer().render(data))
    assert b'"stamp":"2026-11-27T01:02:03.456789Z"' in ours


def test_the_api_answers_through_it(api):
    response = api.get("/api/v1/models/")
    assert response.status_code == 200
    assert isinstance(response.accepted_renderer, JSONRenderer)
