"""Backbones from keras.applications: real ImageNet weights, downloaded once (online only)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path
from typing import Optional

from core.backbones.spec import BackboneSpec
from core.base.errors import BackboneUnavailableError

KERAS_APPS = {
    # name: (keras.applications attribute, native size, feature dim)
    "inception_v3": ("InceptionV3", 299, 2048),
    "resnet50": ("ResNet50", 224, 2048),
    "vgg16": ("VGG16", 224, 512),
    "mobilenet_v2": ("MobileNetV2", 224, 1280),
    "efficientnet_b0": ("EfficientNetB0", 224, 1280),
}

# Each application's own input normalisation, applied inside the model to [0, 255] RGB input.
PREPROCESS_MODE = {
    "inception_v3": "tf",        # x / 127.5 - 1
    "mobilenet_v2": "tf",
    "resnet50": "caffe",         # RGB→BGR, minus ImageNet channel means
    "vgg16": "caffe",
    "efficientnet_b0": "none",   # the model rescales by itself
}
OFFLINE_ALTERNATIVES = "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2"


def keras_app_specs() -> dict[str, BackboneSpec]:
    """The registry's entries for KERAS_APPS (nothing imported until a model is built)."""
    return {name: BackboneSpec(
        name=name, native_size=size, feature_dim=dim, offline=False,
        description=f"keras.applications.{attr} with ImageNet weights (downloaded once, online)",
        builder=f"core.backbones.keras_apps:build_{name}",
        weights_id=lambda attr=attr: f"keras.applications.{attr}:imagenet",
        unavailable_reason=lambda name=name: keras_weights_unavailable_reason(name))
        for name, (attr, size, dim) in KERAS_APPS.items()}


def _weights_cached(name: str) -> bool:
    models = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    stem = {"inception_v3": "inception_v3", "resnet50": "resnet50", "vgg16": "vgg16",
            "mobilenet_v2": "mobilenet_v2", "efficientnet_b0": "efficientnetb0"}[name]
    return models.is_dir() and any(stem in p.name and "notop" in p.name for p in models.iterdir())


@lru_cache(maxsize=1)
def internet_reachable(timeout: float = 1.5) -> bool:
    """Whether the host Keras downloads weights from answers (checked once per process)."""
    try:
        with socket.create_connection(("storage.googleapis.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


def keras_weights_unavailable_reason(name: str) -> Optional[str]:
    if _weights_cached(name) or internet_reachable():
        return None
    return (f"{name}: keras.applications downloads its ImageNet weights once, and there is no "
            f"internet connection here. Fix: connect once (the weights are then cached in "
            f"~/.keras/models), or use an offline backbone: {OFFLINE_ALTERNATIVES}.")


def _build(name: str, *, input_size: int):
    from core.base.tf_env import import_tensorflow

    import_tensorflow()
    import keras

    attr = KERAS_APPS[name][0]
    constructor = getattr(keras.applications, attr)
    try:
        base = constructor(include_top=False, weights="imagenet", pooling="avg",
                           input_shape=(input_size, input_size, 3))
    except Exception as error:  # download failures surface as several exception types
        raise BackboneUnavailableError(
            f"{name}: could not load its ImageNet weights through keras.applications.{attr} "
            f"({type(error).__name__}: {str(error)[:200]}). Fix: connect to the internet once, "
            f"or use an offline backbone: {OFFLINE_ALTERNATIVES}.") from error
    inputs = keras.Input((input_size, input_size, 3), name="pixels")
    x = _normalize(inputs, PREPROCESS_MODE[name])
    return keras.Model(inputs, base(x), name=f"{name}_features")


def _normalize(x, mode: str):
    import keras

    if mode == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(x)
    if mode == "caffe":
        bgr = keras.ops.flip(x, axis=-1)
        return bgr - keras.ops.convert_to_tensor([103.939, 116.779, 123.68])
    return x


def build_inception_v3(*, input_size: int):
    return _build("inception_v3", input_size=input_size)


def build_resnet50(*, input_size: int):
    return _build("resnet50", input_size=input_size)


def build_vgg16(*, input_size: int):
    return _build("vgg16", input_size=input_size)


def build_mobilenet_v2(*, input_size: int):
    return _build("mobilenet_v2", input_size=input_size)


def build_efficientnet_b0(*, input_size: int):
    return _build("efficientnet_b0", input_size=input_size)
