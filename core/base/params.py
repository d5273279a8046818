"""Declared parameters: each knob's default, type, bounds and help written once (a `param`
field of a `Params` dataclass), checked the same way for the CLI and the app, and readable by a
front end (widget min/max, help)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from core.base.errors import ParameterError

KINDS = ("int", "float", "choice", "bool", "str")
MAX_TEXT_CHARS = 64  # a value written as text (ParamSpec.parse): longer is no value of ours


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

    def parse(self, name: str, text: str) -> Any:
        """A value written as text (a link's parameter) read as its kind, then `check`ed;
        ParameterError naming the bound, or the kind when the text is not one."""
        text = str(text).strip()
        if len(text) > MAX_TEXT_CHARS:
            raise ParameterError(f"{name} must be {self.describe()}, got {len(text):,} "
                                 "characters")
        if self.auto and text == "auto":
            return text
        if self.kind in ("int", "float"):
            try:
                value: Any = float(text)
            except ValueError:
                raise ParameterError(f"{name} must be {self.describe()}, got {text!r}") from None
            value = int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
        elif self.kind == "bool":
            value = {"true": True, "false": False}.get(text.lower(), text)
        elif self.kind == "choice":
            value = next((choice for choice in self.choices if str(choice) == text), text)
        else:
            value = text
        return self.check(name, value)

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


def whole_number(text: str, *, max_digits: int = 30) -> int | None:
    """`text` as a whole number when it is 1 to `max_digits` ASCII digits, else None: typed
    or linked text ("12", not "²", "١٢" or 5,000 nines). str.isdigit() also takes "²" and
    "①", which int() refuses, and int() refuses over 4,300 digits: both would be an
    unexpected error instead of a message."""
    text = str(text)
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


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


_SPEC = "param_spec"  # the dataclass field metadata key holding a field's ParamSpec


def param(default: Any, *, kind: str | None = None, min: float | None = None,
          max: float | None = None, min_exclusive: bool = False, max_exclusive: bool = False,
          choices: tuple[Any, ...] = (), auto: bool = False, help: str) -> Any:
    """A `Params` dataclass field declaring one parameter: its default and the ParamSpec that
    checks it. `kind` follows the default's type when left out ("choice" with `choices`)."""
    spec = ParamSpec(kind or _kind_of(default, choices), min=min, max=max,
                     min_exclusive=min_exclusive, max_exclusive=max_exclusive,
                     choices=tuple(choices), auto=auto, help=help)
    return dataclasses.field(default=default, metadata={_SPEC: spec})


def _kind_of(default: Any, choices: tuple[Any, ...]) -> str:
    if choices:
        return "choice"
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(default, types):  # bool before int: True is an int too
            return kind
    raise ValueError(f"param({default!r}) needs kind=")


class Params:
    """Base of a config dataclass whose fields are declared with `param`: the one place each
    parameter's default, bounds and help are written. A subclass that only changes an
    inherited parameter's default writes a plain default (`dropout: float = 0.5`) and keeps
    the parent's spec."""

    @classmethod
    def parameter_specs(cls) -> dict[str, ParamSpec]:
        """name → ParamSpec of every field, in field order (a front end's widget bounds)."""
        return {field.name: _spec_of(cls, field.name) for field in dataclasses.fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """name → default of every field, in field order."""
        return {field.name: field.default for field in dataclasses.fields(cls)}

    @classmethod
    def check(cls, params: Mapping[str, Any] | None, *, owner: str) -> dict[str, Any]:
        """The defaults overlaid with `params`, each checked against its spec (ParameterError
        naming the bound; unknown names listed with the known ones)."""
        return check_params({**cls.defaults(), **(params or {})}, cls.parameter_specs(),
                            owner=owner)


def _spec_of(config: type, name: str) -> ParamSpec:
    """The spec of field `name`: its own, else the nearest parent dataclass's."""
    for klass in config.__mro__:
        field = getattr(klass, "__dataclass_fields__", {}).get(name)
        if field is not None and _SPEC in field.metadata:
            return field.metadata[_SPEC]
    raise ValueError(f"{config.__qualname__}.{name} has no spec: declare it with "
                     f"core.base.params.param(default, ..., help=...)")
