"""Keras layers that make exported models take raw uint8 images of any size.

Registered as serializable so a saved `.keras` file loads with `safe_mode=True` once this
module is imported (`core.export_layers`): no Lambda layers, no pickled code.
"""

from __future__ import annotations

from core.tf_env import configure

configure()
import keras  # noqa: E402  (after the quiet-logging set-up)


@keras.saving.register_keras_serializable(package="transfer_lens")
class ResizeToBackbone(keras.layers.Layer):
    """uint8 (B, H, W, 1|3) → float32 (B, S, S, 3) in [0, 255]: grey→RGB, centre crop, resize.

    The same preprocessing as extraction (`core.extractor`), inside the model.
    """

    def __init__(self, *, size: int, crop_fraction: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = int(size)
        self.crop_fraction = float(crop_fraction)

    def call(self, images):
        import tensorflow as tf

        x = tf.cast(images, tf.float32)
        x = tf.cond(tf.shape(x)[-1] == 1, lambda: tf.image.grayscale_to_rgb(x[..., :1]),
                    lambda: x[..., :3])
        if self.crop_fraction < 1.0:
            x = tf.image.central_crop(x, self.crop_fraction)
        return tf.image.resize(x, (self.size, self.size), method="bilinear")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 3)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "crop_fraction": self.crop_fraction}
