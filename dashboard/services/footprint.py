"""How many bytes of memory a memoised value holds: the memo's byte budget (memo.py) and the
soak's memory probe (benchmarks/workers/memory_probe) both measure with `footprint`.

An estimate that is cheap next to computing the value and never walks into what the value
only points at: NumPy arrays count their buffer once however many views share it (a
read-only memmap of a cache file too: its pages are resident once read, and stay mapped as
long as the value lives); plotly figures count their dict form (what `PrerenderedFigure`
keeps); Keras models their weights; containers, dataclasses and objects of this project
(and scikit-learn's estimators) are walked; any other object counts only its own size.
"""

from __future__ import annotations

import mmap
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

# objects of these packages are walked attribute by attribute; others (TensorFlow, plotly's
# validators, streamlit, modules) would lead into shared state the value does not own
_WALKED = ("core.", "dashboard.", "sklearn.")
_SCALARS = (str, bytes, bytearray, int, float, complex, bool, type(None))


@dataclass(frozen=True)
class Footprint:
    """Bytes a value holds: `heap` in process memory, `mapped` in memory-mapped files."""

    heap: int = 0
    mapped: int = 0

    @property
    def total(self) -> int:
        return self.heap + self.mapped


def footprint(value: Any) -> Footprint:
    """The bytes `value` holds (each buffer and object counted once)."""
    seen: set[int] = set()
    heap = mapped = 0
    todo = [value]
    while todo:
        obj = todo.pop()
        if isinstance(obj, np.ndarray):
            owner, is_mapped = _buffer_owner(obj)
            if id(owner) in seen:
                continue
            seen.add(id(owner))
            size = owner.nbytes if isinstance(owner, np.ndarray) else len(owner)
            if is_mapped:
                mapped += size
            else:
                heap += size
            if obj.dtype.hasobject:
                todo.extend(owner.ravel().tolist() if isinstance(owner, np.ndarray) else [])
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        heap += sys.getsizeof(obj)
        if isinstance(obj, _SCALARS):
            continue
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            # a figure's hover texts are tens of thousands of strings: summed at once (a
            # string repeated in one list counts each time: an over-estimate, never under)
            heap += sum(sys.getsizeof(item) for item in obj if type(item) in _SCALARS)
            todo.extend(item for item in obj if type(item) not in _SCALARS)
        elif hasattr(obj, "to_plotly_json") and hasattr(obj, "to_dict"):
            todo.append(obj.to_dict())  # a plotly figure: its dict form is what it holds
        elif hasattr(obj, "memory_usage") and hasattr(obj, "index"):  # pandas
            heap += int(np.sum(obj.memory_usage(deep=True)))
        elif hasattr(obj, "count_params") and hasattr(obj, "weights"):  # a Keras model
            heap += sum(int(np.prod(w.shape)) * w.dtype.size for w in obj.weights)
        elif type(obj).__module__.startswith(_WALKED) and not isinstance(obj, type):
            todo.extend(_attributes(obj))
    return Footprint(heap=heap, mapped=mapped)


def _buffer_owner(array: np.ndarray) -> tuple[Any, bool]:
    """The object that owns `array`'s memory (the end of its chain of bases) and whether
    that memory is a mapped file."""
    owner: Any = array
    is_mapped = isinstance(array, np.memmap)
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
        is_mapped = is_mapped or isinstance(owner, (np.memmap, mmap.mmap))
    if not isinstance(owner, (np.ndarray, mmap.mmap, bytes, bytearray)):
        owner = array  # a buffer of something else (e.g. an arrow array): the view's size
    return owner, is_mapped


def _attributes(obj: Any) -> list[Any]:
    values = list(getattr(obj, "__dict__", {}).values())
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(obj, name) and not name.startswith("__"):
                values.append(getattr(obj, name))
    return values
