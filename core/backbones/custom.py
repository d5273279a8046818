"""A user's own Keras model as a backbone: 'path/to/model.keras:layer_name'.

Trust model: a .keras file is loaded with safe_mode=True, which refuses Lambda layers and
other arbitrary code; only load models you trust all the same.
The model must take RGB images; it receives float32 pixels in [0, 255], so put its own
normalisation inside the model.
"""

from __future__ import annotations

import functools
from pathlib import Path

from core.backbones.spec import BackboneSpec, file_digest
from core.base.errors import BackboneUnavailableError


def parse_custom(name: str) -> tuple[Path, str | None]:
    path_text, _, layer = name.partition(".keras")
    path = Path(path_text + ".keras").expanduser()
    layer = layer.lstrip(":") or None
    return path, layer


def custom_backbone_spec(name: str) -> BackboneSpec:
    path, layer = parse_custom(name)
    if not path.is_file():
        raise BackboneUnavailableError(f"No Keras model at {path}. Fix: give the path to a "
                                       f".keras file, optionally followed by ':layer_name'.")
    size, dim = _probe(str(path), layer)
    return BackboneSpec(
        name=name, native_size=size, feature_dim=dim, offline=True,
        description=f"your model {path.name}" + (f", layer {layer}" if layer else ""),
        builder=functools.partial(_build_bound, path=path, layer=layer),
        weights_id=lambda: file_digest(str(path)) + ":" + (layer or ""),
        unavailable_reason=lambda: None)


def _load(path: str):
    from core.base.tf_env import import_tensorflow

    import_tensorflow()
    import keras

    # registers the layers our saved models contain (PreprocessImages, PointwiseConv2D), so
    # exported end-to-end models and fine-tuned backbones load with safe_mode=True
    import core.backbones.layers  # noqa: F401

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:
        raise BackboneUnavailableError(f"Could not load the Keras model {path}: {error}") from error


def _feature_model(model, layer: str | None):
    import keras

    if layer is None:
        output = model.layers[-2].output if len(model.layers) > 1 else model.output
    else:
        try:
            output = model.get_layer(layer).output
        except ValueError as error:
            names = ", ".join(l.name for l in model.layers[-8:])
            raise BackboneUnavailableError(
                f"The model has no layer '{layer}'. Last layers: {names}.") from error
    if len(output.shape) == 4:
        output = keras.layers.GlobalAveragePooling2D(name="features_pool")(output)
    elif len(output.shape) != 2:
        raise BackboneUnavailableError(f"Layer output has shape {output.shape}; need (B, D) or (B, H, W, C).")
    return keras.Model(model.inputs, output)


def _probe(path: str, layer: str | None) -> tuple[int, int]:
    model = _feature_model(_load(path), layer)
    shape = model.inputs[0].shape
    size = int(shape[1]) if shape[1] is not None else 224
    return size, int(model.outputs[0].shape[-1])


def _build_bound(*, path: Path, layer: str | None, input_size: int | None = None):
    return _feature_model(_load(str(path)), layer)
