"""A version's model card: what the model is, what it learned from, how well it does, and how
to run the downloaded file elsewhere. As JSON (`model_card`) and as Markdown
(`card_markdown`), for GET /api/v1/models/{name}/versions/{n}/card/ and for
`python -m predictor.train_model --output` (the card beside the file).

The usage snippet builds the input exactly as the platform does (predictor/frames.py): a
pipeline the platform trained takes a matrix of its features in order (floats, or objects
with text in the category columns); one imported with `feature_names_in_` takes a DataFrame
with those columns.
"""

import json

from .estimators import BOOLEAN, CATEGORY, NUMBER
from .frames import PANDAS_FALSE, PANDAS_TRUE

CARD_VERSION = 1


def example_row(schema: list[dict]) -> dict:
    """One plausible row for the schema: a number's middle, a category's first value, false."""
    row = {}
    for feature in schema:
        if feature["type"] == NUMBER:
            low, high = feature.get("min"), feature.get("max")
            row[feature["name"]] = 0.0 if low is None or high is None else round((low + high) / 2, 4)
        elif feature["type"] == CATEGORY:
            categories = feature.get("categories") or []
            row[feature["name"]] = categories[0] if categories else None
        elif feature["type"] == BOOLEAN:
            row[feature["name"]] = False
        else:  # pragma: no cover - the three types are all there are
            row[feature["name"]] = None
    return row


def _pandas_reads_bool(spellings: dict) -> bool:
    return spellings.get("true") in PANDAS_TRUE and spellings.get("false") in PANDAS_FALSE


def usage_snippet(*, file_name: str, schema: list[dict], trusted: list[str], named_columns: bool) -> str:
    """Python that loads the downloaded skops file with only scikit-learn and skops installed
    (numpy comes with them; pandas for a model that takes named columns) and predicts one row."""
    row = example_row(schema)
    names = [feature["name"] for feature in schema]
    lines = [
        "import skops.io as sio",
        "",
        "# The types this file needs beyond skops's defaults, as the platform vetted them.",
        "# Check them yourself: sio.get_untrusted_types(file=...) lists them.",
        f"trusted = {json.dumps(sorted(trusted))}",
        f'model = sio.load("{file_name}", trusted=trusted)',
        "",
        # A Python literal, not JSON: JSON's false and null are not Python.
        f"row = {row!r}",
    ]
    if named_columns:
        lines += ["import pandas as pd", ""]
        spelled = {
            feature["name"]: feature["spellings"]
            for feature in schema
            if feature.get("spellings") and not _pandas_reads_bool(feature["spellings"])
        }
        if spelled:
            lines += [
                "# Booleans as the dataset's file spells them: what pandas read when the model was fitted.",
                f"spellings = {spelled!r}",
                "for name, words in spellings.items():",
                "    if isinstance(row[name], bool):",
                "        row[name] = words[str(row[name]).lower()]",
            ]
        lines += ["X = pd.DataFrame([row])"]
    else:
        categorical = any(feature["type"] == CATEGORY for feature in schema)
        lines += [
            "import numpy as np",
            "",
            "# The features in this order; a missing number is nan, a missing category None,",
            "# a boolean 1.0 or 0.0.",
            f"features = {json.dumps(names, ensure_ascii=False)}",
        ]
        if categorical:
            categories = [
                name for name, feature in zip(names, schema, strict=True) if feature["type"] == CATEGORY
            ]
            lines += [
                f"categories = set({json.dumps(categories, ensure_ascii=False)})",
                "X = np.array(",
                "    [[row[f] if f in categories else float(row[f]) for f in features]], dtype=object",
                ")",
            ]
        else:
            lines += ["X = np.array([[float(row[f]) for f in features]])"]
    lines += ["print(model.predict(X))"]
    return "\n".join(lines) + "\n"


def model_card(version, *, trusted: list[str], named_columns: bool, history: list) -> dict:
    """The card of a ModelVersion (predictor/models.py). `trusted`: the skops types its file
    needs beyond skops's defaults; `named_columns`: the pipeline takes a DataFrame by name;
    `history`: the model's versions, newest first (their status and the gate's reasons)."""
    model = version.model
    file_name = f"{model.name}-v{version.number}.skops"
    return {
        "card_version": CARD_VERSION,
        "model": model.name,
        "version": version.number,
        "status": version.status,
        "description": model.description,
        "task": model.task,
        "target": model.target or None,
        "primary_metric": model.primary_metric,
        "estimator": version.estimator or None,
        "params": version.params,
        "classes": version.classes,
        "features": version.feature_schema,
        "metrics": {"held_out": version.metrics},
        "diagnostics": version.diagnostics,
        "leaderboard": version.leaderboard,
        "lineage": version.lineage,
        "training_rows": version.training_rows,
        "samples_used": version.samples_used,
        "artifact": {
            "sha256": version.artifact_sha256,
            "scikit_learn": version.sklearn_version,
            "file_name": file_name,
            "trusted_types": sorted(trusted),
            "input": "DataFrame with the features' names"
            if named_columns
            else "matrix of the features in order",
        },
        "library_versions": version.library_versions,
        "created_at": version.created_at.isoformat() if version.created_at else None,
        "promoted_at": version.promoted_at.isoformat() if version.promoted_at else None,
        "promotion_history": [
            {
                "version": other.number,
                "status": other.status,
                "reason": other.status_reason,
                "created_at": other.created_at.isoformat() if other.created_at else None,
                "promoted_at": other.promoted_at.isoformat() if other.promoted_at else None,
            }
            for other in history
        ],
        "usage": usage_snippet(
            file_name=file_name, schema=version.feature_schema, trusted=trusted, named_columns=named_columns
        ),
    }


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")


def card_markdown(card: dict) -> str:
    """The card as Markdown: the same facts, for people."""
    out = [f"# {card['model']}, version {card['version']} ({card['status']})", ""]
    if card["description"]:
        out += [card["description"], ""]
    out += [
        f"- Task: {card['task']}" + (f", target `{card['target']}`" if card["target"] else ""),
        f"- Estimator: {card['estimator'] or 'unknown'} {_cell(card['params'])}",
        f"- Trained on {card['training_rows']:,} rows ({card['samples_used']:,} of them labelled samples)",
        f"- scikit-learn {card['artifact']['scikit_learn']}; artifact SHA-256 `{card['artifact']['sha256']}`",
        "",
        "## Held-out metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    out += [f"| {name} | {_cell(value)} |" for name, value in sorted(card["metrics"]["held_out"].items())]
    out += ["", "## Features", "", "| feature | type | may be missing | values |", "|---|---|---|---|"]
    for feature in card["features"]:
        if feature["type"] == CATEGORY:
            values = ", ".join(feature.get("categories", [])[:20])
            more = len(feature.get("categories", [])) - 20
            values += f" (and {more} more)" if more > 0 else ""
        elif feature["type"] == NUMBER:
            values = f"{feature.get('min')} to {feature.get('max')}"
        else:
            values = "true, false"
        missing = "yes" if feature.get("nullable") else "no"
        out.append(f"| {_cell(feature['name'])} | {feature['type']} | {missing} | {_cell(values)} |")
    dataset = (card["lineage"] or {}).get("dataset")
    out += ["", "## Lineage", ""]
    if dataset:
        name, number, sha256 = dataset.get("name"), dataset.get("version"), dataset.get("sha256")
        out.append(f"- Dataset `{name}` version {number}, SHA-256 `{sha256}`")
    rows = (card["lineage"] or {}).get("rows")
    if rows:
        out.append(f"- Rows: {_cell(rows)}")
    out += [f"- {name} {version}" for name, version in sorted(card["library_versions"].items())]
    out += ["", "## Promotion history", "", "| version | status | reason |", "|---|---|---|"]
    out += [
        f"| {entry['version']} | {entry['status']} | {_cell(entry['reason'])} |"
        for entry in card["promotion_history"]
    ]
    out += ["", "## Use it elsewhere", "", "```python", card["usage"].rstrip("\n"), "```", ""]
    return "\n".join(out)
