"""HEADS: name → head class. The registration point for new heads (e.g. "finetune")."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from core.base.params import Params, ParamSpec
from core.heads.base import HeadModel

HEADS: dict[str, type[HeadModel]] = {}
DEFAULT_HEAD = "logreg"
H = TypeVar("H", bound=type[HeadModel])


def register_head(cls: H) -> H:
    """Class decorator: make a HeadModel subclass trainable by name through `train_head`."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a `name`")
    if hasattr(cls, "defaults") or hasattr(cls, "specs"):
        raise ValueError(f"{cls.__qualname__}: declare its parameters as `config`, a Params "
                         f"dataclass of core.base.params.param fields, not defaults/specs")
    if not (dataclasses.is_dataclass(cls.config) and issubclass(cls.config, Params)):
        raise ValueError(f"{cls.__qualname__}.config must be a dataclass subclassing "
                         f"core.base.params.Params")
    cls.resolve_params({})  # every field has a spec and its default passes it
    HEADS[cls.name] = cls
    return cls


def get_head_class(name: str) -> type[HeadModel]:
    if name not in HEADS:
        raise ValueError(f"unknown head '{name}'; available: {', '.join(HEADS)}")
    return HEADS[name]


def head_title(name: str) -> str:
    """The head's display name (its registry name when it has none)."""
    return get_head_class(name).title or name


def describe_head(name: str) -> str:
    return get_head_class(name).description


def default_head_params(name: str) -> dict[str, Any]:
    return get_head_class(name).config.defaults()


def parameter_specs(name: str) -> dict[str, ParamSpec]:
    """name → ParamSpec (kind, min, max, help) of every parameter of head `name`."""
    return get_head_class(name).parameter_specs()


def head_names(*, fine_tunes_backbone: bool | None = None,
               task: str | None = "classification") -> list[str]:
    """Registered heads in registration order; filtered to those that do (True) or do not
    (False) fine-tune the backbone, and to one task ("classification", the default, or
    "regression"; None: every head)."""
    return [name for name, cls in HEADS.items()
            if (fine_tunes_backbone is None or cls.fine_tunes_backbone == fine_tunes_backbone)
            and (task is None or cls.task == task)]
