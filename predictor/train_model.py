"""Train a model by hand: register a new version, or write the fitted pipeline to a file.

    python -m predictor.train_model --model breast_cancer [--if-missing]
    python -m predictor.train_model --model penguin-species --output model.joblib

The model is any defined model (its dataset and definition in the registry); a shipped one
(breast_cancer, iris, wine, diabetes) is defined first when it is not yet. A registered
version becomes champion when the model has none; otherwise it is a candidate, as a
training run's would be before the promotion gate (predictor/training.py) judges it.
"""

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django.setup()
    from .training import model_fit, model_train_and_register, shipped_defined

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="breast_cancer")
    parser.add_argument(
        "--output", help="write the fitted pipeline to this file (joblib) instead of registering it"
    )
    parser.add_argument("--if-missing", action="store_true", help="do nothing when the model has a champion")
    args = parser.parse_args(argv)
    shipped_defined(args.model)
    if args.output:
        import joblib

        result = model_fit(args.model)
        joblib.dump(result.pipeline, args.output)
        print(f"{args.model}: wrote {args.output} ({result.estimator}) {result.metrics}")
        return
    version = model_train_and_register(args.model, if_missing=args.if_missing)
    if version is None:
        print(f"{args.model}: a champion is registered; not retraining")
    else:
        print(f"{args.model}: trained v{version.number} ({version.status}) {version.metrics}")


if __name__ == "__main__":
    main()
