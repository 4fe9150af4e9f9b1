"""The models page's diagnostics: a classifier's confusion matrix as a heat map (colours
checked for contrast), a regressor's predicted-vs-actual points and its target's range."""

_LIGHT, _DARK = (255, 255, 255), (10, 83, 190)  # white to the pages' accent (#0a53be)
_WHITE, _BLACK = "#ffffff", "#000000"


def _luminance(rgb) -> float:
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""
    a, b = (_luminance(bytes.fromhex(colour[1:])) for colour in (one, other))
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def heat(share: float) -> tuple[str, str]:
    """Background for a cell holding `share` (0..1) of its row, and the text colour
    (black or white, whichever contrasts more: never below 4.5:1)."""
    rgb = [round(light + (dark - light) * share) for light, dark in zip(_LIGHT, _DARK, strict=True)]
    background = "#" + "".join(f"{c:02x}" for c in rgb)
    text = max((_BLACK, _WHITE), key=lambda colour: contrast(background, colour))
    return background, text


def confusion_chart(diagnostics: dict) -> dict | None:
    try:
        labels = [str(label) for label in diagnostics["confusion_matrix"]["labels"]]
        matrix = [[int(count) for count in row] for row in diagnostics["confusion_matrix"]["matrix"]]
    except (KeyError, TypeError, ValueError):
        return None
    if len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
        return None
    rows = []
    for i, (label, counts) in enumerate(zip(labels, matrix, strict=True)):
        total = sum(counts)
        cells = []
        for j, count in enumerate(counts):
            share = count / total if total else 0.0
            background, text = heat(share)
            cells.append(
                {
                    "count": count,
                    "percent": round(share * 100),
                    "background": background,
                    "text": text,
                    "correct": i == j,
                    "predicted": labels[j],
                }
            )
        rows.append({"label": label, "total": total, "cells": cells})
    correct = sum(matrix[i][i] for i in range(len(labels)))
    total = sum(map(sum, matrix))
    return {"labels": labels, "rows": rows, "correct": correct, "total": total}


def scatter_chart(diagnostics: dict, model_name: str, champion) -> dict | None:
    try:
        points = [
            [float(actual), float(predicted)]
            for actual, predicted in diagnostics["predicted_vs_actual"]["points"]
        ]
    except (KeyError, TypeError, ValueError):
        return None
    if not points:
        return None
    version = f"v{champion.number}"
    values = [value for point in points for value in point]
    return {
        "id": f"scatter-{model_name}",
        "data": {
            "kind": "scatter",
            "model": model_name,
            "version": version,
            "points": points,
            "low": min(values),
            "high": max(values),
        },
        "label": (
            f"Predicted against actual values for {len(points)} held-out rows of {model_name} {version}, "
            f"actual from {min(p[0] for p in points):.4g} to {max(p[0] for p in points):.4g}; "
            "the diagonal line is where a prediction equals the actual value."
        ),
        "count": len(points),
    }


TARGET_STATS = (
    ("min", "Minimum"),
    ("p05", "5th percentile"),
    ("p50", "Median"),
    ("mean", "Mean"),
    ("p95", "95th percentile"),
    ("max", "Maximum"),
    ("std", "Standard deviation"),
)


def target_rows(diagnostics: dict) -> list[dict] | None:
    target = diagnostics.get("target")
    if not isinstance(target, dict):
        return None
    return [
        {"key": key, "name": name, "value": f"{target[key]:.6g}"}
        for key, name in TARGET_STATS
        if isinstance(target.get(key), int | float)
    ]
