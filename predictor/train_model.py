"""Train a model by hand, with the same fitting code the platform runs (predictor/fitting.py).

Offline, with no platform running and no database: a CSV, or a shipped model's bundled
data, to a model file and its card beside it.

    python -m predictor.train_model --data customers.csv --target churned \\
        [--estimator auto|NAME] [--params JSON] [--features a,b,c] --output model.skops
    python -m predictor.train_model --model iris --output iris.skops   # (or .joblib)

The file is skops (loads without running code: `skops.io.load(path, trusted=...)`, the
card lists the types) or, for `.joblib`, a pickle. The card (`model.card.json` beside
`model.skops`) is the platform's model card (predictor/model_card.py): task, features,
held-out metrics, the data's SHA-256, library versions and how to run the file.

Into the platform's registry, as a new version that the promotion gate judges like a
training run's (the database and MongoDB of the settings); without --output this is what
it does:

    python -m predictor.train_model --model breast_cancer [--register] [--if-missing]

The model is any defined model; a shipped one is defined first when it is not yet.
"""

import argparse
import hashlib
import io
import json
import os
import sys
from pathlib import Path


def _setup(offline: bool) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    if offline:
        # Offline nothing is signed and no database is opened: the settings need a key to
        # load, not a secret one.
        os.environ.setdefault("DJANGO_SECRET_KEY", "train-model-offline")
    django.setup()


def _offline(args) -> tuple:
    """(result, notes, the data's name, SHA-256 and rows) from a CSV or a shipped model's data."""
    from django.conf import settings

    from .definitions import definition_check
    from .fitting import train
    from .tabular import Limits, load_frame, profile_csv

    if args.model:
        from .shipped import SHIPPED, shipped_csv, shipped_definition

        if args.model not in SHIPPED:
            raise SystemExit(f"--model: not a shipped model; one of {sorted(SHIPPED)} (or give --data)")
        data = shipped_csv(SHIPPED[args.model])
        name = f"{args.model}.csv"
    else:
        data = Path(args.data).read_bytes()
        name = Path(args.data).name
    # The platform's own limits (DATASET_MAX_*): a file it would refuse is refused here too.
    limits = Limits(
        max_bytes=settings.DATASET_MAX_BYTES,
        max_rows=settings.DATASET_MAX_ROWS,
        max_columns=settings.DATASET_MAX_COLUMNS,
        max_categories=settings.DATASET_MAX_CATEGORIES,
    )
    profile = profile_csv(io.BytesIO(data), limits=limits)
    if args.model:
        definition = shipped_definition(args.model)
        notes = []
    else:
        definition, notes = definition_check(
            profile.columns,
            profile.rows,
            name=Path(args.output).stem,
            target=args.target,
            features=args.features.split(",") if args.features else None,
            estimator=args.estimator,
            params=json.loads(args.params) if args.params else None,
        )
    table = load_frame(
        io.BytesIO(data),
        profile.columns,
        usecols=[*definition.feature_names, definition.target],
        delimiter=profile.delimiter,
    )
    result = train(
        definition,
        table,
        on_stage=lambda stage: print(f"  {stage}", file=sys.stderr),
        cv_max_rows=settings.AUTO_CV_MAX_ROWS,
    )
    return result, notes, {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "rows": profile.rows}


def _write(args, result, data: dict) -> None:
    import joblib
    import sklearn

    from . import model_files
    from .model_card import model_card
    from .models import MLModel, ModelVersion

    output = Path(args.output)
    if output.suffix == ".joblib":
        joblib.dump(result.pipeline, output)
        trusted = []
    else:
        blob = model_files.dumps(result.pipeline)
        output.write_bytes(blob)
        trusted = model_files.check(blob, sklearn_version=sklearn.__version__, extra=[])
    definition = result.definition
    # Unsaved rows: the card reads a version's fields, nothing is written anywhere.
    model = MLModel(
        name=definition.name,
        task=definition.task,
        target=definition.target,
        primary_metric=definition.primary_metric,
    )
    version = ModelVersion(
        model=model,
        number=0,
        status="offline",
        artifact_sha256=hashlib.sha256(output.read_bytes()).hexdigest(),
        sklearn_version=sklearn.__version__,
        params=result.params,
        metrics=result.metrics,
        feature_schema=result.feature_schema,
        classes=result.classes,
        training_rows=result.training_rows,
        diagnostics=result.diagnostics,
        estimator=result.estimator,
        leaderboard=result.leaderboard,
        lineage={"dataset": data, "features": result.feature_schema, "target": definition.target},
        library_versions=_library_versions(),
    )
    card = model_card(version, trusted=trusted, named_columns=False, history=[])
    card["artifact"]["file_name"] = output.name
    card["usage"] = card["usage"].replace(f"{model.name}-v0.skops", output.name)
    card_path = output.with_name(f"{output.stem}.card.json")
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(f"{definition.name}: wrote {output} and {card_path} ({result.estimator}) {result.metrics}")


def _register(name: str, *, if_missing: bool) -> None:
    """A training run of the model, recorded and run here: trained, stored, registered and
    judged by the promotion gate as a worker's run is (predictor/training.py)."""
    from django.conf import settings

    from . import history, registry
    from .training import shipped_defined, stale_cutoff, training_execute, training_request

    history.connect()
    shipped_defined(name)
    if if_missing and registry.champion_get(name) is not None:
        print(f"{name}: a champion is registered; not retraining")
        return
    run = training_request(model_name=name, params={}, requested_by=None, trigger="api")
    training_execute(
        run.id,
        stale_before=stale_cutoff(settings.TRAINING_TIME_LIMIT),
        max_attempts=settings.TRAINING_MAX_ATTEMPTS,
    )
    run = history.training_get(run.id)
    print(f"{name}: v{run.version} {run.decision} ({run.decision_reason}) {run.metrics}")


def _library_versions() -> dict:
    from .registry import library_versions

    return library_versions()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", help="a CSV file to train on (offline; with --target and --output)")
    source.add_argument(
        "--model", help="a shipped model (offline with --output) or a defined one (--register)"
    )
    parser.add_argument("--target", help="the column to predict (with --data)")
    parser.add_argument("--features", help="comma-separated feature columns (default: every other column)")
    parser.add_argument("--estimator", default="auto", help="auto, or one of GET /api/v1/estimators/")
    parser.add_argument("--params", help="the estimator's parameters as JSON, e.g. '{\"n_estimators\": 300}'")
    parser.add_argument("--output", help="write the fitted pipeline here: .skops (default format) or .joblib")
    parser.add_argument(
        "--register",
        action="store_true",
        help="register a new version of a defined model (without --output: the default)",
    )
    parser.add_argument(
        "--if-missing", action="store_true", help="with --register: only when it has no champion"
    )
    args = parser.parse_args(argv)
    if args.register or not args.output:
        if args.output or args.data:
            parser.error("--register trains a defined model (--model NAME); it writes no file")
        _setup(offline=False)
        _register(args.model or "breast_cancer", if_missing=args.if_missing)
        return
    if not args.model and not (args.data and args.target):
        parser.error("--data FILE.csv --target COLUMN, or --model SHIPPED")
    if Path(args.output).suffix not in (".skops", ".joblib"):
        parser.error("--output must end in .skops or .joblib")
    _setup(offline=True)
    from .errors import FieldErrors

    try:
        result, notes, data = _offline(args)
    except FieldErrors as exc:
        raise SystemExit(f"refused: {json.dumps(exc.errors, ensure_ascii=False)}") from None
    for note in notes:
        print(f"  note: {note}", file=sys.stderr)
    _write(args, result, data)


if __name__ == "__main__":
    main()
