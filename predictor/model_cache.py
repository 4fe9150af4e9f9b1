"""A process's loaded models, bounded by memory: least recently used out first.

Keyed by artifact SHA-256 (content-addressed, so an entry never goes stale). Each entry's
size is `model_nbytes`: the larger of the artifact's byte length and `estimate_nbytes`, a
deep size estimate of the loaded object.

Why both: a pickle's length is what the model was on disk, which is neither an upper nor a
lower bound of what it takes unpickled (a random forest's 200 estimator objects, their
dicts and small arrays cost more loaded than pickled; a compressed artifact is smaller than
what it holds). The estimate walks what the artifact actually became; the artifact's length
is a floor for memory the walk cannot see.

What the estimate counts, and what it does not:
- every numpy array reachable through instance `__dict__`s and `__slots__`, lists, tuples,
  sets and dicts: its data (`nbytes`) plus its header. A view counts the array that owns its
  buffer, once, since that is what it keeps alive; object arrays are walked element by element;
- scikit-learn's trees (`sklearn.tree._tree.Tree`), whose node and value buffers are C memory
  behind no `__dict__`: through `__getstate__()`'s `nodes` and `values`, which are views of
  those buffers (no copy);
- every other container, instance and string it passes, by `sys.getsizeof`.
- Not counted: C memory of other extension types (the walk cannot see inside them, e.g. a
  booster library's native model: the artifact's length is then the floor), the allocator's
  overhead, Python numbers (small, and mostly shared), classes, functions and modules
  (shared with the process). Objects shared with the rest of the process (interned strings)
  count as the model's.

Measured (scikit-learn 1.9, 100 copies loaded in one process): the shipped 200-tree wine
forest estimates 651 KB (its artifact is 420 KB) and grows the process's RSS by 636 KB a
copy; the breast_cancer logistic regression estimates 5.4 KB (artifact 2.4 KB), RSS 2.8 KB.

It costs one pass over the object graph: about 6 ms for a 200-tree forest, against about
50 ms to unpickle it, and it runs once per load, never on a hit.

A model larger than the whole cap is still served: it is put in, everything else goes, and
it goes itself at the next put (the next load), so it is kept only while it is the model in
use.

Room is made before a load (`reserve`): the cache evicts until the model about to load fits
beside what stays, taking its size from its last measure in this process or, the first
time, from its artifact's length. Unpickling holds a model twice for a moment (pickle keeps
every array it read until the load ends, and a scikit-learn tree copies its arrays into its
own buffers), so a process peaks at about the cap plus the model being loaded, and holds at
most the cap between loads.

The memory of an evicted model goes back to the system (`memory_trim`), and so does what a
large model's unpickling held for a moment.

Measured (10 forests of 4-35 MB and 40 linear models, 400 loads drawn uniformly through a
64 MB cache in one process; 53 MB cached at the end): RSS over warm at the end +101 MB and
peak +177 MB when entries were evicted after a load and unpickled from the artifact's bytes
in memory; +58 MB and +105 MB with room made first, unpickled from the file, and trimmed
after each large load.

Evicting an entry only drops the cache's reference: a job still predicting with it keeps it
alive until that job is done.
"""

import ctypes
import logging
import sys
import threading
import types
from collections import OrderedDict

import numpy as np

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# How many models' last measured sizes a cache remembers (a few dozen bytes each).
SIZES_KEPT = 10_000
# A load of a model this large is followed by a trim (memory_trim's cost is then small
# beside the load's; a linear model's load is a few milliseconds).
TRIM_AFTER_LOAD_BYTES = 1 * MB

# Shared with the process (or free): never counted as a model's.
_NOT_COUNTED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    np.dtype,
    int,
    float,
    complex,
    bool,
    type(None),
)


def _tree_type():
    try:
        from sklearn.tree._tree import Tree
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return None
    return Tree


def estimate_nbytes(obj) -> int:
    """A deep size estimate, in bytes, of `obj` and everything reachable from it (see the
    module's docstring for what counts). Each object is counted once."""
    tree_type = _tree_type()
    seen: set[int] = set()
    # The arrays __getstate__ makes would otherwise be freed mid-walk, and their ids reused.
    keep_alive: list = []
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, _NOT_COUNTED):
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            base = item.base
            if isinstance(base, np.ndarray):
                # A view: its header, and the array owning the buffer, counted once.
                total += sys.getsizeof(item)
                stack.append(base)
            else:
                # Its own data, or memory another object owns (a Tree's buffer): the part
                # this array shows. nbytes, since getsizeof leaves out data it does not own.
                total += sys.getsizeof(item) + (0 if base is None else item.nbytes)
            if item.dtype.hasobject:
                stack.extend(item.ravel(order="K").tolist())
            continue
        total += sys.getsizeof(item)
        if isinstance(item, (str, bytes, bytearray, memoryview, range)):
            continue
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif tree_type is not None and isinstance(item, tree_type):
            state = item.__getstate__()
            keep_alive.append(state)
            stack.extend((state["nodes"], state["values"]))
        else:
            attributes = getattr(item, "__dict__", None)
            if isinstance(attributes, dict):
                stack.append(attributes)
            for slot in _slots(type(item)):
                value = getattr(item, slot, None)
                if value is not None:
                    stack.append(value)
    return total


def _slots(cls) -> list[str]:
    names = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [name for name in names if name not in ("__dict__", "__weakref__")]


def model_nbytes(obj, artifact_nbytes: int = 0) -> int:
    """What a loaded model is taken to cost: the larger of its artifact's byte length and
    the deep estimate of the object itself."""
    return max(artifact_nbytes, estimate_nbytes(obj))


class ModelCache:
    """Loaded models by artifact SHA-256, at most `max_bytes` of them (by `model_nbytes`),
    least recently used evicted first. Safe to share between threads."""

    def __init__(self, max_bytes: int, *, metrics: bool = False):
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.bytes = 0
        # Count into the platform's Prometheus metrics (the process's serving cache does).
        self._metrics = metrics
        self._entries: OrderedDict[str, tuple[object, int]] = OrderedDict()
        # The last measured size of models measured here, kept or not (reserve's estimate).
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str):
        """The model, now the most recently used; None (a miss) when it is not here."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end(key)
        self._observe("miss" if entry is None else "hit")
        return None if entry is None else entry[0]

    def reserve(self, key: str, *, artifact_nbytes: int = 0) -> None:
        """Before loading `key`: evict the least recently used until it fits beside what
        stays. Its size is its last measure here, or else its artifact's length (about the
        loaded size of a forest; a linear model is tiny either way)."""
        evicted = []
        with self._lock:
            need = self._sizes.get(key, artifact_nbytes)
            while self._entries and self.bytes + need > self.max_bytes:
                gone, (_, size) = self._entries.popitem(last=False)
                self.bytes -= size
                self.evictions += 1
                evicted.append(gone)
            current = self.bytes
        self._evicted(evicted, current)

    def put(self, key: str, model, *, artifact_nbytes: int = 0) -> int:
        """Keep `model` as the most recently used, measured (see model_nbytes), and evict the
        least recently used until the whole fits `max_bytes`; return the model's size."""
        nbytes = model_nbytes(model, artifact_nbytes)  # outside the lock: the slow part
        evicted = []
        with self._lock:
            self._sizes[key] = nbytes
            self._sizes.move_to_end(key)
            while len(self._sizes) > SIZES_KEPT:
                self._sizes.popitem(last=False)
            old = self._entries.pop(key, None)
            if old is not None:  # two threads loaded it at once: the later replaces it
                self.bytes -= old[1]
            self._entries[key] = (model, nbytes)
            self.bytes += nbytes
            while self.bytes > self.max_bytes and len(self._entries) > 1:
                gone, (_, size) = self._entries.popitem(last=False)
                if gone == key:  # pragma: no cover - the new entry is the most recent
                    raise AssertionError("evicting the entry just put")
                self.bytes -= size
                self.evictions += 1
                evicted.append(gone)
            current = self.bytes
        if nbytes > self.max_bytes:
            logger.warning(
                "model %s takes %.1f MB, more than the model cache's %.0f MB (MODEL_CACHE_MB): "
                "served, but kept only until the next model is loaded",
                key[:12],
                nbytes / MB,
                self.max_bytes / MB,
            )
        self._evicted(evicted, current)
        if not evicted and nbytes >= TRIM_AFTER_LOAD_BYTES:
            # What unpickling held for a moment (about the model again) goes back too.
            memory_trim()
        return nbytes

    def _evicted(self, keys: list[str], current: int) -> None:
        for gone in keys:
            logger.debug("model cache: evicted %s", gone[:12])
        self._observe("eviction", count=len(keys), current=current)
        if keys:
            memory_trim()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def keys(self) -> list[str]:
        """The keys, least recently used first (a get or put moves one to the end)."""
        with self._lock:
            return list(self._entries)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "bytes": self.bytes,
                "entries": len(self._entries),
                "max_bytes": self.max_bytes,
            }

    def _observe(self, event: str, *, count: int = 1, current: int | None = None) -> None:
        if not self._metrics:
            return
        from myproject.metrics import model_cache_observed

        model_cache_observed(event, count, current)


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): free() returns memory as that allocator does
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def memory_trim() -> None:
    """Give the memory of evicted models back to the system. glibc keeps freed memory for
    reuse, so without this a worker's RSS grew far past the cap as models came and went
    (make bench, 50 models through a 64 MB cache: +186 MB of RSS with 58 MB cached; with a
    trim after each eviction, +60-68 MB). A trim costs about 1.4 ms, on a miss only."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
