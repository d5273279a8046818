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


def manifest_json(value: Any) -> str:
    """`value` as the indented JSON text of a manifest file."""
    return json.dumps(value, indent=1, default=json_default)
