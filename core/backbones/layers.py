"""Keras layers that saved and exported models contain: the uint8-images front end, and the
matmul form of 1×1 convolutions the EfficientNet-Lite port uses.

Registered as serializable so a saved `.keras` file loads with `safe_mode=True` once this
module is imported (`core.backbones.layers`): no Lambda layers, no pickled code.
"""

from __future__ import annotations

from core.base.tf_env import configure

configure()
import keras  # noqa: E402  (after the quiet-logging set-up)


@keras.saving.register_keras_serializable(package="transfer_lens")
class ResizeToBackbone(keras.layers.Layer):
    """uint8 (B, H, W, 1|3) → float32 (B, S, S, 3) in [0, 255]: grey→RGB, centre crop, resize.

    The same preprocessing as extraction (`core.features.extractor`), inside the model.
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
