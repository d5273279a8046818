"""Decode image files of any common format and pixel mode into uint8 RGB arrays."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.base.errors import DatasetError

# Lower-case suffixes Pillow decodes here (WebP and TIFF support is checked at runtime by
# Pillow itself; a file it cannot decode becomes an ImageReadError, not a silent skip).
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".gif", ".webp", ".tif", ".tiff",
})

# Our own decompression-bomb limit, checked from the header before any pixel is decoded.
# Module-level so an app can raise it once; `max_pixels=` overrides it per call.
MAX_PIXELS = 100_000_000

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})


class ImageReadError(DatasetError):
    """An image file cannot be decoded; `path` and `reason` are kept for skip reports."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"Cannot read image {self.path}: {reason}")


def load_rgb(path: str | Path, *, max_pixels: int | None = None,
             name: str | Path | None = None) -> np.ndarray:
    """Decode `path` into a uint8 H×W×3 RGB array, upright (EXIF orientation applied).

    Transparent pixels are composited onto white; 16-bit and float images are rescaled,
    not clipped; animated files give their first frame. Raises ImageReadError, naming the
    image `name` (default: `path`).
    """
    return _decode(path, max_pixels=max_pixels, reduced=False, name=name)[0]


def decode_rgb(data: bytes, *, name: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """`load_rgb` for a file's bytes already in memory (read from a URI); `name` is the
    path or URI errors name."""
    return _decode(data, max_pixels=max_pixels, reduced=False, name=name)[0]


def verify_image(source: str | Path | bytes, *, path: str | Path | None = None,
                 max_pixels: int | None = None) -> tuple[int, int]:
    """Check that an image decodes completely; return its stored (width, height).

    JPEGs are decoded at 1/8 scale (DCT scaling): every compressed byte is still read, so
    truncation and corrupt data are caught at a fraction of the cost of a full decode.
    `source` may be file bytes already in memory (then `path` names it in errors).
    """
    return _decode(source, max_pixels=max_pixels, reduced=True, name=path)[1]


def _decode(source: str | Path | bytes, *, max_pixels: int | None, reduced: bool,
            name: str | Path | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    name = name if name is not None else ("<bytes>" if isinstance(source, bytes) else source)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    stream: str | Path | BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with Image.open(stream) as image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise ImageReadError(name, f"empty image ({width}×{height} pixels)")
            if width * height > limit:
                raise ImageReadError(name, _too_large(width, height, limit))
            if reduced:
                # Only JPEG honours draft(); other formats ignore it and decode fully.
                image.draft(None, (1, 1))
            # Animated GIF/WebP/PNG open on frame 0, so load() decodes only the first frame.
            image.load()
            rgb = _to_rgb(_upright(image), name)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(name, "file not found") from None
    except IsADirectoryError:
        raise ImageReadError(name, "is a directory, not an image file") from None
    except PermissionError:
        raise ImageReadError(name, "permission denied") from None
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires in open(), before our check, for images beyond twice
        # Image.MAX_IMAGE_PIXELS; its message carries the pixel counts.
        raise ImageReadError(name, f"too large: {exc}") from None
    except MemoryError:
        raise ImageReadError(name, "too large: out of memory while decoding") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError) as exc:
        # Pillow reports damaged data through all of these, depending on the plugin.
        text = str(exc) or type(exc).__name__
        reason = "truncated (file is incomplete)" if "truncated" in text else f"corrupt: {text}"
        raise ImageReadError(name, reason) from None
    return np.asarray(rgb, dtype=np.uint8), (width, height)


def _too_large(width: int, height: int, limit: int) -> str:
    return (f"too large: {width}×{height} pixels exceeds the "
            f"{limit / 1e6:g} MP limit (core.datasets.image_io.MAX_PIXELS)")


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag so phone photos are not sideways."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - malformed EXIF is common; the pixels are still fine
        return image


def _to_rgb(image: Image.Image, name: str | Path) -> Image.Image:
    """Convert any Pillow mode to RGB without clipping high bit depths or blackening alpha."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        image = Image.fromarray(_scale_to_uint8(np.asarray(image), mode), mode="L")
        mode = "L"
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _ALPHA_MODES or "transparency" in image.info:
        # convert("RGB") would drop alpha and expose whatever colour hides under it
        # (often black); users see these images on a white page, so composite on white.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageReadError(name, f"unsupported pixel mode {mode!r}: {exc}") from None


def _scale_to_uint8(pixels: np.ndarray, mode: str) -> np.ndarray:
    """Map high-bit-depth pixels to 0..255 by scaling (Pillow's convert('L') clips instead)."""
    values = pixels.astype(np.float64)
    if mode in _SIXTEEN_BIT_MODES:
        low, high = 0.0, 65535.0
    elif mode == "I":
        # 32-bit ints almost always carry 16-bit data (PNG/TIFF); otherwise use the range.
        low, high = (0.0, 65535.0) if values.min() >= 0 and values.max() <= 65535 else (
            float(values.min()), float(values.max()))
    else:  # "F": floats are either 0..1, 0..255, or something to normalise
        finite = values[np.isfinite(values)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if vmin >= 0 and vmax <= 1:
            low, high = 0.0, 1.0
        elif vmin >= 0 and vmax <= 255:
            low, high = 0.0, 255.0
        else:
            low, high = vmin, vmax
        values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    span = high - low if high > low else 1.0
    return np.clip(np.rint((values - low) * (255.0 / span)), 0, 255).astype(np.uint8)
