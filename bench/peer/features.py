"""The breast_cancer model's 30 features, named as the platform names them: scikit-learn's
feature names in snake case ("mean radius" -> "mean_radius", "radius error" ->
"radius_error"). The web knows them without importing scikit-learn; the worker checks them
against the data it trains on (tasks.py)."""

MEASURES = [
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave_points",
    "symmetry",
    "fractal_dimension",
]
FEATURES = [
    *(f"mean_{m}" for m in MEASURES),
    *(f"{m}_error" for m in MEASURES),
    *(f"worst_{m}" for m in MEASURES),
]
