"""Declared parameters: each knob's type and bounds written once, checked the same way for the
CLI and the app, and readable by a front end (widget min/max, help)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from core.base.errors import ParameterError

KINDS = ("int", "float", "choice", "bool", "str")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: `kind` int/float/choice/bool/str; numeric bounds `min`/`max` (None:
    open), exclusive when `min_exclusive`/`max_exclusive`; `choices` for kind "choice";
    `auto=True` also accepts the string "auto" (the head picks the value itself)."""

    kind: str
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Any, ...] = ()
    auto: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    def describe(self) -> str:
        """The accepted values, as the end of "<name> must be ..." ."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind in ("bool", "str"):
            text = "true or false" if self.kind == "bool" else "a text"
        elif self.min is not None and self.min == self.max:
            text = f"{_number(self.min)}"
        else:
            text = ("an integer" if self.kind == "int" else "a number") + self._range()
        return text + (' or "auto"' if self.auto else "")

    def _range(self) -> str:
        low = None if self.min is None else (
            f"above {_number(self.min)}" if self.min_exclusive else f"from {_number(self.min)}")
        if self.max is None:
            return f" {low}" if low else ""
        high = f"below {_number(self.max)}" if self.max_exclusive else f"at most {_number(self.max)}"
        if low is None:
            return f" {high}"
        if not self.min_exclusive:  # "from 0 to 1", "from 0 to below 1"
            return f" {low} to {high.removeprefix('at most ')}"
        return f" {low} and {high}"

    def check(self, name: str, value: Any) -> Any:
        """`value` normalised (ints as int, numbers as float), or ParameterError naming the
        bound."""
        if self.auto and value == "auto":
            return value
        normalised = self._coerce(value)
        if normalised is None or not self._within(normalised):
            raise ParameterError(f"{name} must be {self.describe()}, got {value!r}")
        return normalised

    def _coerce(self, value: Any) -> Any:
        if self.kind == "choice":
            return value if value in self.choices else None
        if self.kind == "bool":
            return value if isinstance(value, bool) else None
        if self.kind == "str":
            return value if isinstance(value, str) else None
        # bool is an int in Python, but True epochs is a mistake, not 1
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if not math.isfinite(value):
            return None
        if self.kind == "int":
            return int(value) if float(value).is_integer() else None
        return float(value)

    def _within(self, value: Any) -> bool:
        if self.kind not in ("int", "float"):
            return True
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            return False
        if self.max is not None and (value >= self.max if self.max_exclusive else value > self.max):
            return False
        return True

    def fields(self) -> dict[str, Any]:
        """Plain data for a front end (JSON-ready), with the `describe()` text."""
        return {**asdict(self), "choices": list(self.choices), "accepts": self.describe()}


def _number(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def check_params(params: Mapping[str, Any], specs: Mapping[str, ParamSpec], *,
                 owner: str) -> dict[str, Any]:
    """Every value of `params` checked against its spec; names without one are refused with
    the known ones listed ("unknown <owner> parameter(s) ...")."""
    unknown = set(params) - set(specs)
    if unknown:
        raise ParameterError(f"unknown {owner} parameter(s) {sorted(unknown)}; known: "
                             f"{sorted(specs)}")
    return {name: specs[name].check(name, value) for name, value in params.items()}
