"""JSON for manifests: numpy scalars and arrays become plain numbers and lists."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def json_default(value: Any) -> Any:
    """`json.dumps(default=...)` for what manifests hold besides plain JSON: numpy scalars and
    arrays as numbers and lists, anything else (paths, dtypes) as its string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def dumps(value: Any, *, indent: int | None = 1) -> str:
    return json.dumps(value, indent=indent, default=json_default)
