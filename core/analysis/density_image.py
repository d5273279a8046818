"""A 2-D map of any number of points as one picture: datashader aggregates every point into a
pixel grid and shades it, so what the browser receives does not grow with N.

Two colourings: categorical (each pixel blends its classes' colours by their counts, the
classic datashader `count_cat` picture) and continuous (each pixel's mean value through a
colour scale, for confidence or a regression target). Empty pixels are transparent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class DensityImage:
    rgba: np.ndarray  # (height, width, 4) uint8, row 0 at the top
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    points: int  # how many points fell inside the ranges


def categorical_image(*, coords: np.ndarray, codes: np.ndarray, colours: Sequence[str],
                      x_range: tuple[float, float], y_range: tuple[float, float],
                      width: int, height: int) -> DensityImage:
    """Points coloured by `codes` (0..len(colours)-1; negative = not drawn), colours blended
    per pixel in proportion to each category's count there."""
    import datashader as ds
    import datashader.transfer_functions as tf
    import pandas as pd

    codes = np.asarray(codes)
    keep = codes >= 0
    categories = [str(i) for i in range(len(colours))]
    frame = pd.DataFrame({
        "x": np.asarray(coords[keep, 0], np.float32), "y": np.asarray(coords[keep, 1], np.float32),
        "c": pd.Categorical.from_codes(codes[keep].astype(np.int32), categories=categories)})
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=x_range, y_range=y_range)
    counts = canvas.points(frame, "x", "y", agg=ds.count_cat("c"))
    # eq_hist: 1M points pile up hundreds deep in cluster cores; linear shading would wash
    # every cluster's rim out to nothing
    image = tf.shade(counts, color_key=dict(zip(categories, colours)), how="eq_hist",
                     min_alpha=60)
    return _finish(image, counts.sum(dim="c"), x_range, y_range)


def continuous_image(*, coords: np.ndarray, values: np.ndarray, colour_scale: Sequence[str],
                     value_range: tuple[float, float], x_range: tuple[float, float],
                     y_range: tuple[float, float], width: int, height: int) -> DensityImage:
    """Each pixel the mean of its points' `values`, mapped linearly through `colour_scale`
    (hex colours, low to high) over `value_range`."""
    import datashader as ds
    import datashader.transfer_functions as tf
    import pandas as pd

    frame = pd.DataFrame({"x": np.asarray(coords[:, 0], np.float32),
                          "y": np.asarray(coords[:, 1], np.float32),
                          "v": np.asarray(values, np.float32)})
    canvas = ds.Canvas(plot_width=width, plot_height=height, x_range=x_range, y_range=y_range)
    means = canvas.points(frame, "x", "y", agg=ds.mean("v"))
    image = tf.shade(means, cmap=list(colour_scale), how="linear", span=list(value_range))
    counts = canvas.points(frame, "x", "y", agg=ds.count())
    return _finish(image, counts, x_range, y_range)


def _finish(image, counts, x_range, y_range) -> DensityImage:
    # datashader's uint32 RGBA (little-endian bytes r, g, b, a); its row 0 is the lowest y
    rgba = np.asarray(image.data, dtype=np.uint32).view(np.uint8).reshape(
        image.shape[0], image.shape[1], 4)[::-1]
    return DensityImage(rgba=np.ascontiguousarray(rgba), x_range=tuple(map(float, x_range)),
                        y_range=tuple(map(float, y_range)), points=int(np.asarray(counts).sum()))


def to_png(image: DensityImage) -> bytes:
    """The picture as a PNG of at most 256 colours (alpha included): a 1000×600 map of 1M
    Fashion-MNIST-derived points is 225 kB this way against 836 kB as full RGBA (measured),
    and it goes to the browser base64-encoded on every rerun that draws it."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image.rgba, mode="RGBA").quantize(
        256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG")
    return buffer.getvalue()
