"""The backbone registry: name → how to build a feature extractor, its size and dimension.

Every builder returns a Keras model that takes float32 RGB pixels in [0, 255] of shape
(B, S, S, 3) and returns pooled features (B, D): the backbone's own normalisation lives
inside the model, so extraction only resizes.
The registry gathers the families (`lite_specs`, `keras_apps`, `custom`), which know only
`core.backbones.spec`; nothing here imports TensorFlow: builders are imported when a model
is needed.
"""

from __future__ import annotations

from core.backbones.custom import custom_backbone_spec
from core.backbones.keras_apps import keras_app_specs
from core.backbones.lite_specs import lite_specs
from core.backbones.spec import BackboneSpec
from core.base.errors import BackboneUnavailableError

REGISTRY: dict[str, BackboneSpec] = {**lite_specs(), **keras_app_specs()}
DEFAULT_BACKBONE = "efficientnet_lite0"


def list_backbones() -> list[BackboneSpec]:
    return list(REGISTRY.values())


def get_backbone(name: str) -> BackboneSpec:
    """A registered backbone, or a user's own model given as 'path/to/model.keras:layer_name'."""
    if name in REGISTRY:
        return REGISTRY[name]
    if ".keras" in name:
        from core.base.public import refuse_if_public

        refuse_if_public("A custom .keras model from the server's disk",
                         why="only the built-in backbones are offered")
        return custom_backbone_spec(name)
    known = ", ".join(REGISTRY)
    raise BackboneUnavailableError(
        f"Unknown backbone '{name}'. Known: {known}; or give your own model as "
        f"'path/to/model.keras:layer_name'.")
