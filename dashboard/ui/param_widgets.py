"""One widget per parameter, typed and bounded by core's ParamSpecs (core.base.params):
the heads' hyper-parameters and the fine-tuning settings alike."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

# widget labels where the parameter's name does not read well as one
LABELS = {
    "bn": "Batch norm",
    "peak_lr": "Peak learning rate",
    "learning_rate": "Learning rate",
    "lr": "Learning rate",
    "start_size": "Start size (px)",
    "batch_size": "Batch size",
    "weight_decay": "Weight decay",
    "label_smoothing": "Label smoothing",
    "flip": "Random left-right flip",
    "crop_pad_fraction": "Random crop (padding, share of side)",
    "erase": "Random erasing (probability)",
    "unfreeze": "Unfrozen layers",
    "C": "C (inverse regularisation)",
}


def param_widgets(head_name: str, defaults: dict[str, Any],
                  helps: dict[str, str] | None = None, *,
                  specs: dict | None = None) -> dict[str, Any]:
    """One input per hyper-parameter, typed after its spec (core.base.params.ParamSpec),
    else its default value; numbers get the spec's bounds, choices a select box. A parameter
    whose spec allows one value only keeps it (no widget)."""
    params: dict[str, Any] = {}
    columns = st.columns(3)
    shown = [(name, default) for name, default in defaults.items()
             if not _fixed((specs or {}).get(name))]
    for position, (name, default) in enumerate(shown):
        column = columns[position % 3]
        spec = (specs or {}).get(name)
        key = f"hp_{head_name}_{name}"
        label = LABELS.get(name) or name.replace("_", " ").capitalize()
        # values survive view switches
        keep = {"key": key, "persist_state": "session", "help": _help(name, spec, helps)}
        kind = spec.kind if spec is not None else None
        if kind == "choice" and default in spec.choices:
            params[name] = column.selectbox(label, list(spec.choices),
                                            index=list(spec.choices).index(default), **keep)
        elif isinstance(default, bool):
            params[name] = column.checkbox(label, value=default, **keep)
        elif isinstance(default, int):
            low, high = _bounds(spec, integer=True)
            params[name] = int(column.number_input(label, value=default, step=1,
                                                   min_value=low, max_value=high, **keep))
        elif isinstance(default, float):
            low, high = _bounds(spec, integer=False)
            # steps that make sense for 1e-3 (learning rate), 0.01 (C) and 0.0 (dropout)
            step = abs(default) / 2 if 0 < abs(default) < 1 else (abs(default) / 10 or 0.05)
            params[name] = float(column.number_input(label, value=default, step=step,
                                                     min_value=low, max_value=high,
                                                     format="%g", **keep))
        elif isinstance(default, (list, tuple)) and all(isinstance(v, int) for v in default):
            keep["help"] = keep["help"] or "Comma-separated whole numbers."
            text = column.text_input(label, value=", ".join(map(str, default)), **keep)
            params[name] = _int_list(text, default)
        elif isinstance(default, str):
            params[name] = column.text_input(label, value=default, **keep)
        # anything else (None, nested settings) stays at core's default
    return params


def param_slider(name: str, spec, *, key: str, label: str, step: float | None = None,
                 where=st) -> Any:
    """A slider over a numeric ParamSpec's bounds (both must be set), its value in session
    state under `key` (seeded by the caller); help from the spec."""
    low, high = _bounds(spec, integer=spec.kind == "int")
    extra = {} if step is None else {"step": step}
    return where.slider(label, low, high, key=key, persist_state="session",
                        help=_help(name, spec, None), **extra)


def _fixed(spec) -> bool:
    """A numeric parameter with one allowed value (softmax's hidden=0)."""
    return (spec is not None and spec.kind in ("int", "float") and spec.min is not None
            and spec.min == spec.max)


def _bounds(spec, *, integer: bool) -> tuple[Any, Any]:
    """The widget's min and max from a ParamSpec (exclusive bounds: the nearest value
    inside); None where the spec is open."""
    if spec is None or spec.kind not in ("int", "float"):
        return None, None
    low, high = spec.min, spec.max
    if integer:
        low = None if low is None else int(math.floor(low)) + (1 if spec.min_exclusive else 0)
        high = None if high is None else int(math.ceil(high)) - (1 if spec.max_exclusive else 0)
        return low, high
    if low is not None:
        low = math.nextafter(float(low), math.inf) if spec.min_exclusive else float(low)
    if high is not None:
        high = math.nextafter(float(high), -math.inf) if spec.max_exclusive else float(high)
    return low, high


def _help(name: str, spec, helps: dict[str, str] | None) -> str | None:
    """The view's own help, else the spec's; with the accepted values (core's words)."""
    text = (helps or {}).get(name) or (spec.help[:1].upper() + spec.help[1:] + "."
                                       if spec is not None and spec.help else "")
    if spec is not None and spec.kind in ("int", "float", "choice"):
        text = (text + " " if text else "") + f"Accepts {spec.describe()}."
    return text or None


def _int_list(text: str, default) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        st.warning(f"“{text}” is not a list of whole numbers; using {default}.")
        return tuple(default)
    return values or tuple(default)
