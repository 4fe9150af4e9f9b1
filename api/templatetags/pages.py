from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`{{ errors|get_item:name }}`: a dict lookup with a variable key."""
    return mapping.get(key) if mapping else None


@register.simple_tag
def flower_link() -> str:
    """Where staff find Flower; empty when this site runs none."""
    return reverse("flower", kwargs={"path": ""}) if settings.FLOWER_URL else ""


@register.filter
def probability_bars(output) -> list[dict]:
    """A classifier's output as bars, the predicted class first, then by probability."""
    probabilities = (output or {}).get("probabilities") or {}
    label = (output or {}).get("label")
    ordered = sorted(probabilities.items(), key=lambda item: (item[0] != label, -item[1]))
    return [
        # The width is written for CSS: a dot decimal whatever the locale.
        {"name": name, "p": p, "width": f"{max(0.0, min(1.0, p)) * 100:.2f}", "predicted": name == label}
        for name, p in ordered
    ]


@register.filter
def target_range(value, target) -> dict | None:
    """Where a regression value sits among the targets its model was trained on: positions
    (percent of min..max) for the value, the middle 90% (p05..p95) and the median."""
    if value is None or not target:
        return None
    low, high = target["min"], target["max"]
    span = (high - low) or 1.0

    def at(x: float) -> str:
        return f"{max(0.0, min(1.0, (x - low) / span)) * 100:.2f}"

    if value < low or value > high:
        where = f"outside the range seen in training ({low:.4g} to {high:.4g})"
    elif target["p05"] <= value <= target["p95"]:
        where = f"within the middle 90% of training targets ({target['p05']:.4g} to {target['p95']:.4g})"
    else:
        side = "lowest" if value < target["p05"] else "highest"
        where = f"among the {side} 5% of training targets"
    return {
        "marker": at(value),
        "band_left": at(target["p05"]),
        "band_width": f"{float(at(target['p95'])) - float(at(target['p05'])):.2f}",
        "mid": at(target["p50"]),
        "where": where,
        **target,
    }


@register.filter
def duration(seconds) -> str:
    """Seconds as people read them: 85 ms, 2.4 s, 3 min 5 s, 2 h 10 min; a dash for none."""
    if seconds is None:
        return "\u2013"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@register.filter
def sig(value, digits: int = 4) -> str:
    """A number to `digits` significant digits, without trailing zeros: 25, 142.5, 0.0312."""
    return "\u2013" if value is None else f"{value:.{digits}g}"


@register.filter
def grouped(value) -> str:
    """A count with its thousands grouped, as people read it: 1,234,567."""
    return "\u2013" if value is None else f"{value:,}"
