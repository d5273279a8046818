"""A tiny deterministic Keras backbone so cache and extraction tests run in seconds."""

from __future__ import annotations

from core.backbones.registry import REGISTRY, BackboneSpec

NAME = "tiny_test_cnn"


def build_tiny(*, input_size: int):
    from core.base.tf_env import configure

    configure()
    import keras

    init = keras.initializers.RandomNormal(stddev=0.05, seed=7)
    inputs = keras.Input((input_size, input_size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", kernel_initializer=init)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", kernel_initializer=init)(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs, name=NAME)


def register_tiny() -> str:
    REGISTRY[NAME] = BackboneSpec(
        name=NAME, native_size=16, feature_dim=16, offline=True, description="test-only CNN",
        builder="tests.support.tiny_backbone:build_tiny", weights_id=lambda: "seed7",
        unavailable_reason=lambda: None)
    return NAME
