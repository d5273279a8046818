"""Keras layers that saved and exported models contain: the image preprocessing front end
(and the TensorFlow maths of that preprocessing, so extraction and exported models run the
same ops), and the matmul form of 1×1 convolutions the EfficientNet-Lite port uses.

Registered as serializable so a saved `.keras` file loads with `safe_mode=True` once this
module is imported (`core.backbones.layers`): no Lambda layers, no pickled code.
"""

from __future__ import annotations

from core.base.tf_env import configure

configure()
import keras  # noqa: E402  (after the quiet-logging set-up)


def preprocess_images(images, *, size: int, crop_fraction: float = 1.0):
    """The one image preprocessing, in TensorFlow ops (`core.features.preprocessing` is the
    entry point): any-size images (…, H, W, C) of any dtype and 1–4 channels → float32
    (…, size, size, 3) in [0, 255].

    Grey → RGB (an alpha channel is dropped), the centred square of the shorter side, its
    centred `crop_fraction`, bilinear resize to size × size — the ImageNet reference for
    photos. Antialiased only when shrinking, like PIL's bilinear reduce: upsampling gives
    the same pixels either way (measured 28 → 96 px: 4.6e-5 apart on 0..255) and the
    antialiased kernel is ~5× slower there.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    height, width = tf.shape(x)[-3], tf.shape(x)[-2]
    side = tf.cast(tf.minimum(height, width), tf.float32)
    crop = tf.maximum(1, tf.cast(tf.round(side * crop_fraction), tf.int32))
    top, left = (height - crop) // 2, (width - crop) // 2
    x = x[..., top:top + crop, left:left + crop, :]  # crop first: less to convert
    x = tf.gather(x, tf.where(tf.shape(x)[-1] < 3, [0, 0, 0], [0, 1, 2]), axis=-1)
    x = tf.cast(x, tf.float32)
    return tf.cond(crop > size,
                   lambda: tf.image.resize(x, (size, size), method="bilinear", antialias=True),
                   lambda: tf.image.resize(x, (size, size), method="bilinear", antialias=False))


@keras.saving.register_keras_serializable(package="transfer_lens")
class PreprocessImages(keras.layers.Layer):
    """uint8 (B, H, W, 1|3|4) of any size → float32 (B, S, S, 3) in [0, 255]: the front of
    every exported end-to-end model, `preprocess_images` inside the model."""

    def __init__(self, *, size: int, crop_fraction: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = int(size)
        self.crop_fraction = float(crop_fraction)

    def call(self, images):
        return preprocess_images(images, size=self.size, crop_fraction=self.crop_fraction)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 3)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "crop_fraction": self.crop_fraction}


@keras.saving.register_keras_serializable(package="transfer_lens")
class ResizeToBackbone(PreprocessImages):
    """PreprocessImages' earlier name (same config): fine-tuned models saved with it load."""


@keras.saving.register_keras_serializable(package="transfer_lens")
class PointwiseConv2D(keras.layers.Conv2D):
    """A 1×1, stride-1 convolution whose gradients are computed as matrix products.

    Same weights and config as `Conv2D(filters, 1)`, so weight loading, BN folding and
    saved files are unchanged, and the forward pass is the same convolution. Why: the CPU
    gradient kernels of TensorFlow's 1×1 convolutions (Conv2DBackpropFilter/Input) are
    several times slower than a matmul's at the small feature maps of EfficientNet's later
    blocks (measured here on 2 cores: 121 ms vs 20 ms for 128×2×2×320 → 1280), and made
    CPU fine-tuning mostly wait on them; a matmul forward, on the other hand, is slower than
    oneDNN's convolution at the large early maps. Benchmarks: `python -m benchmarks`.
    """

    def __init__(self, filters: int, kernel_size=1, **kwargs) -> None:
        super().__init__(filters, kernel_size, **kwargs)
        if tuple(self.kernel_size) != (1, 1) or tuple(self.strides) != (1, 1):
            raise ValueError("PointwiseConv2D is a 1×1, stride-1 convolution")

    def call(self, inputs):
        outputs = _pointwise(inputs, self.kernel)
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)


def _pointwise(x, kernel):
    import tensorflow as tf

    @tf.custom_gradient
    def conv(x, kernel):
        def grad(dy):
            c_in, c_out = kernel.shape[-2], kernel.shape[-1]
            dy_rows = tf.reshape(dy, (-1, c_out))
            dx = tf.matmul(dy_rows, tf.reshape(kernel, (c_in, c_out)), transpose_b=True)
            dk = tf.matmul(tf.reshape(x, (-1, c_in)), dy_rows, transpose_a=True)
            return tf.reshape(dx, tf.shape(x)), tf.reshape(dk, tf.shape(kernel))

        return tf.nn.conv2d(x, kernel, strides=1, padding="VALID"), grad

    return conv(x, tf.convert_to_tensor(kernel))
