"""What skops cannot check: the contents of the objects it built from a model file
(predictor/model_files.py `load` calls `contents_check` before anything predicts).

skops trusts or refuses a type by name. Some scikit-learn types hold arrays of indices that
compiled code follows without bounds checks (a decision tree's nodes, a boosting tree's
nodes and category sets, a sparse matrix's indices): a crafted file of trusted types can
then crash the process that predicts with it, or read memory it does not own. And a text
vectorizer may be told to open the files its input names.
"""

import numpy as np
import scipy.sparse
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.feature_extraction.text import _VectorizerMixin
from sklearn.tree._tree import Tree

SPARSE = (scipy.sparse.spmatrix, scipy.sparse.sparray)


class UnsafeModel(Exception):
    """A model whose contents compiled code would follow out of bounds, or that reads files."""

    def __init__(self, message: str, *, code: str = "damaged"):
        super().__init__(message)
        self.message = message
        self.code = code


def _unsafe(what: str) -> UnsafeModel:
    return UnsafeModel(
        f"The model's contents are inconsistent ({what}): predicting with it could crash the "
        "server or read memory it does not own.",
        code="damaged",
    )


def _reachable(model):
    """(object, owner) for every object reachable from the model through instance attributes,
    lists, tuples, sets, dicts and object arrays, once for each way it is reached; owner: the
    nearest object holding it that is not a container (None for the model itself)."""
    stack, seen = [(model, None)], set()
    while stack:
        obj, owner = stack.pop()
        if obj is None or isinstance(obj, str | bytes | int | float | type | np.generic):
            continue
        container = isinstance(obj, dict | list | tuple | set | frozenset | np.ndarray)
        if not container:
            yield obj, owner
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, np.ndarray):
            children = list(obj.flat) if obj.dtype == object else []
        elif container:
            children = list(obj)
        else:
            children, owner = list(_state(obj).values()), obj
        stack.extend((child, owner) for child in children)


def _state(obj) -> dict:
    # Instance attributes as stored: no property of a loaded object is run.
    return getattr(obj, "__dict__", None) or {}


def _width(obj) -> int | None:
    """The number of columns an estimator checks X against, when it records one."""
    value = _state(obj).get("n_features_in_")
    return int(value) if isinstance(value, int | np.integer) and not isinstance(value, bool) else None


def _splits_ok(inner, left, right, feature, n: int, width: int) -> bool:
    """A split's children come after it (so every walk from the root ends) and inside the
    node array; its feature is one of X's columns."""
    return not (
        (left <= inner) | (left >= n) | (right <= inner) | (right >= n) | (feature < 0) | (feature >= width)
    ).any()


def _tree_check(tree: Tree) -> None:
    n = tree.node_count  # at most the nodes stored: scikit-learn cuts a larger count down
    if n < 1:
        raise _unsafe("no nodes")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    split = left != -1
    inner = split.nonzero()[0]
    if (right[~split] != -1).any() or not _splits_ok(
        inner, left[inner], right[inner], feature[inner], n, tree.n_features
    ):
        raise _unsafe("a node's children or feature out of range")
    parents = np.bincount(np.concatenate([left[inner], right[inner]]), minlength=n)
    if parents[0] != 0 or (parents[1:] != 1).any():
        raise _unsafe("a node with no parent or several")
    depth, level = 0, np.zeros(1, dtype=np.intp)
    while (level := level[split[level]]).size:
        level, depth = np.concatenate([left[level], right[level]]), depth + 1
    if tree.max_depth < depth:  # decision_path sizes what it writes by max_depth
        raise _unsafe(f"max_depth {tree.max_depth}, depth {depth}")


def _predictor_check(predictor: TreePredictor, owner) -> None:
    nodes, width = _state(predictor).get("nodes"), _width(owner)
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.shape[:1] == (0,):
        raise _unsafe("a boosting tree's nodes are not a node array")
    if width is None or nodes.ndim != 1:
        raise _unsafe("a boosting tree outside a fitted estimator")
    inner = (nodes["is_leaf"] == 0).nonzero()[0]
    feature = nodes["feature_idx"][inner]
    if not _splits_ok(inner, nodes["left"][inner], nodes["right"][inner], feature, len(nodes), width):
        raise _unsafe("a boosting tree node's children or feature out of range")
    categorical = nodes["is_categorical"][inner] != 0
    if not categorical.any():
        return
    known = _state(_state(owner).get("_bin_mapper")).get("is_categorical_")
    if not isinstance(known, np.ndarray) or known.shape != (width,) or not known[feature[categorical]].all():
        raise _unsafe("a categorical split on a feature that is not categorical")
    for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        table = _state(predictor).get(name)
        if not isinstance(table, np.ndarray) or table.ndim != 2 or table.shape[1] != 8:
            raise _unsafe("a boosting tree's category sets are not 8 words each")
        if (nodes["bitset_idx"][inner][categorical] >= table.shape[0]).any():
            raise _unsafe("a categorical split's category set out of range")


def contents_check(model) -> None:
    """Refuse a model whose decision trees or sparse matrices compiled code would follow out
    of their arrays (skops checks a type, not its contents: a crafted tree crashes the
    process that predicts with it), and a text vectorizer that opens files named in its input.

    A Tree must be its estimator's `tree_`, the estimator checking X's width against the
    tree's; an ensemble (an owner with `estimators_`) passes X to its trees unchecked, so it
    must check a width at least theirs. A TreePredictor is checked against its estimator's
    width and categorical features. Not caught: a histogram boosting estimator whose own
    `_preprocessor` (between its width check and its trees) is crafted to narrow X."""
    checked: set[int] = set()
    for obj, owner in _reachable(model):
        state = _state(obj)
        if isinstance(obj, Tree):
            if owner is None or _state(owner).get("tree_") is not obj:
                raise _unsafe("a tree outside a decision tree estimator")
            if id(obj) not in checked:
                _tree_check(obj)
                checked.add(id(obj))
        elif isinstance(obj, TreePredictor):
            _predictor_check(obj, owner)
        elif isinstance(obj, SPARSE) and id(obj) not in checked:
            try:
                obj.check_format(full_check=True)  # compressed formats only (_trusted_by_kind)
            except Exception as exc:
                raise _unsafe(f"a sparse matrix: {exc}") from exc
            checked.add(id(obj))
        elif isinstance(obj, _VectorizerMixin) and state.get("input", "content") != "content":
            raise UnsafeModel(
                "The model holds a text vectorizer that opens the files its input names.", code="unsafe_model"
            )
        tree = state.get("tree_")
        if isinstance(tree, Tree):
            if _width(obj) != tree.n_features:
                raise _unsafe(f"a tree of {tree.n_features} features in an estimator of {_width(obj)}")
            if (
                owner is not None
                and "estimators_" in _state(owner)
                and (_width(owner) or 0) < tree.n_features
            ):
                raise _unsafe(f"a tree of {tree.n_features} features in an ensemble of {_width(owner)}")
