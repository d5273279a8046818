"""Decoding every pixel mode and format to RGB, orientation, and read errors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets.image_io import IMAGE_EXTENSIONS, ImageReadError, load_rgb, verify_image
from core.base.errors import DatasetError

WHITE = [255, 255, 255]


def _palette_image(*, transparent_index: int | None) -> Image.Image:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image


def _save(image: Image.Image, path: Path, **params) -> Path:
    image.save(path, **params)
    return path


def test_extensions_are_lowercase_suffixes():
    assert {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)


def test_rgb_jpeg_png_bmp(tmp_path):
    pixels = np.zeros((6, 10, 3), np.uint8)
    pixels[..., 0] = 200
    for name in ("a.png", "a.bmp", "a.tiff"):
        out = load_rgb(_save(Image.fromarray(pixels), tmp_path / name))
        assert out.dtype == np.uint8 and out.shape == (6, 10, 3)
        assert out[0, 0].tolist() == [200, 0, 0]
    jpeg = load_rgb(_save(Image.fromarray(pixels), tmp_path / "a.jpg"))
    assert jpeg.shape == (6, 10, 3) and abs(int(jpeg[0, 0, 0]) - 200) < 8


def test_grayscale_l(tmp_path):
    out = load_rgb(_save(Image.new("L", (5, 3), 100), tmp_path / "l.png"))
    assert out.shape == (3, 5, 3) and out[0, 0].tolist() == [100, 100, 100]


def test_grayscale_with_alpha_composites_on_white(tmp_path):
    image = Image.new("LA", (4, 4), (50, 255))
    image.putpixel((0, 0), (0, 0))  # fully transparent black
    out = load_rgb(_save(image, tmp_path / "la.png"))
    assert out[0, 0].tolist() == WHITE
    assert out[1, 1].tolist() == [50, 50, 50]


def test_palette(tmp_path):
    out = load_rgb(_save(_palette_image(transparent_index=None), tmp_path / "p.png"))
    assert out[0, 0].tolist() == [255, 0, 0] and out[1, 1].tolist() == [0, 255, 0]


@pytest.mark.parametrize("name", ["pt.png", "pt.gif"])
def test_palette_with_transparency_composites_on_white(tmp_path, name):
    image = _palette_image(transparent_index=0)
    out = load_rgb(_save(image, tmp_path / name, transparency=0))
    assert out[0, 0].tolist() == WHITE
    assert out[1, 1].tolist() == [0, 255, 0]


@pytest.mark.parametrize("name,params", [("rgba.png", {}), ("rgba.webp", {"lossless": True}),
                                         ("rgba.tiff", {})])
def test_rgba_composites_on_white_not_black(tmp_path, name, params):
    image = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    image.putpixel((1, 0), (0, 0, 0, 128))
    out = load_rgb(_save(image, tmp_path / name, **params))
    assert out[0, 0].tolist() == WHITE
    assert 120 <= out[0, 1, 0] <= 135  # half-transparent black over white is mid-grey
    assert out[2, 2].tolist() == [10, 20, 30]


def test_grayscale_png_with_transparent_colour_key(tmp_path):
    out = load_rgb(_save(Image.new("L", (3, 3), 0), tmp_path / "lt.png", transparency=0))
    assert out[0, 0].tolist() == WHITE


@pytest.mark.parametrize("name", ["cmyk.jpg", "cmyk.tiff"])
def test_cmyk(tmp_path, name):
    out = load_rgb(_save(Image.new("CMYK", (8, 8), (0, 255, 0, 0)), tmp_path / name))
    assert out.shape == (8, 8, 3)
    assert np.abs(out[4, 4].astype(int) - [255, 0, 255]).max() < 8  # magenta


SIXTEEN_BIT = np.array([[0, 257 * 100, 32768, 65535]], dtype=np.uint16)
EXPECTED_8_BIT = [0, 100, 128, 255]  # scaled, not clipped (clipping gives 0, 255, 255, 255)


def test_16_bit_grayscale_png_is_scaled(tmp_path):
    image = Image.fromarray(SIXTEEN_BIT)
    assert image.mode == "I;16"
    out = load_rgb(_save(image, tmp_path / "g16.png"))
    assert out[0, :, 0].tolist() == EXPECTED_8_BIT
    assert (out[..., 0] == out[..., 2]).all()


def test_16_bit_big_endian_tiff_is_scaled(tmp_path):
    image = Image.frombytes("I;16B", (4, 1), SIXTEEN_BIT.astype(">u2").tobytes())
    path = _save(image, tmp_path / "g16b.tiff")
    assert Image.open(path).mode == "I;16B"
    assert load_rgb(path)[0, :, 0].tolist() == EXPECTED_8_BIT


def test_32_bit_int_mode_holding_16_bit_data_is_scaled(tmp_path):
    image = Image.fromarray(SIXTEEN_BIT.astype(np.int32))
    path = _save(image, tmp_path / "i32.tiff")
    assert Image.open(path).mode == "I"
    assert load_rgb(path)[0, :, 0].tolist() == EXPECTED_8_BIT


def test_float_mode_is_scaled(tmp_path):
    image = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    path = _save(image, tmp_path / "f.tiff")
    assert Image.open(path).mode == "F"
    assert load_rgb(path)[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("name", ["one.png", "one.bmp"])
def test_one_bit(tmp_path, name):
    image = Image.new("1", (4, 4), 0)
    image.putpixel((1, 1), 1)
    out = load_rgb(_save(image, tmp_path / name))
    assert out[0, 0].tolist() == [0, 0, 0] and out[1, 1].tolist() == WHITE


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 2
    assert load_rgb(path)[0, 0].tolist() == [255, 0, 0]


def test_exif_orientation_6_is_applied(tmp_path):
    # Stored 40 wide × 20 high with a red block top-left; tag 6 means "rotate 90° clockwise
    # to display", so the result is 20 wide × 40 high with the block top-right.
    pixels = np.full((20, 40, 3), 255, np.uint8)
    pixels[:5, :5] = [255, 0, 0]
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    out = load_rgb(_save(image, tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95))
    assert out.shape == (40, 20, 3)
    assert out[1, -2, 0] > 200 and out[1, -2, 1] < 60  # red, top-right
    assert out[1, 1].min() > 200  # white, top-left


def test_random_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError) as info:
        load_rgb(path)
    assert isinstance(info.value, DatasetError)
    assert "not an image" in info.value.reason
    assert str(path) in str(info.value) and info.value.path == str(path)


def test_empty_file_is_not_an_image(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="not an image"):
        load_rgb(tmp_path / "empty.png")


def _noisy_jpeg(path: Path) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_jpeg(tmp_path, keep):
    data = _noisy_jpeg(tmp_path / "full.jpg")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageReadError, match="truncated") as info:
        load_rgb(path)
    assert "cut.jpg" in str(info.value)
    # The cheap check decodes at reduced scale yet still reads every byte.
    with pytest.raises(ImageReadError, match="truncated"):
        verify_image(path)
    with pytest.raises(ImageReadError, match="truncated"):
        verify_image(path.read_bytes(), path="cut.jpg")


def test_verify_image_returns_stored_size(tmp_path):
    data = _noisy_jpeg(tmp_path / "ok.jpg")
    assert verify_image(tmp_path / "ok.jpg") == (96, 64)
    assert verify_image(data, path="ok.jpg") == (96, 64)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        load_rgb(tmp_path / "nope.jpg")


def test_pixel_limit_is_configurable(tmp_path):
    path = _save(Image.new("RGB", (20, 10)), tmp_path / "a.png")
    with pytest.raises(ImageReadError, match=r"too large: 20×10 pixels exceeds the 0.0001 MP"):
        load_rgb(path, max_pixels=100)
    assert load_rgb(path, max_pixels=200).shape == (10, 20, 3)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge size but holds almost no data (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_default_limit_refuses_huge_declared_size_without_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(12_000, 10_000))  # 120 MP: over our 100 MP default
    with pytest.raises(ImageReadError, match=r"too large: 12000×10000 pixels exceeds the 100 MP"):
        load_rgb(path)


def test_far_too_large_is_refused_by_pillow_guard_too(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(30_000, 30_000))
    with pytest.raises(ImageReadError, match="too large"):
        load_rgb(path)
