"""Thumbnails as PNG sprite sheets: `grid` × `grid` tiles per sheet, row-major, sample i at
position i. One PNG per sheet keeps a bundle to a few files (git- and browser-friendly), and
a browser draws one thumbnail by cropping its tile with CSS background-position.

A tile is as large as the largest thumbnail; smaller ones (other aspect ratios) sit in its
top-left corner, and their (height, width) is stored so the reader crops exactly them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from core.publish.layout import THUMB_SHAPES, sprite_file


def tile_position(index: int, *, grid: int) -> tuple[int, int, int]:
    """(sheet, row, column) of sample `index`."""
    sheet, position = divmod(int(index), grid * grid)
    row, column = divmod(position, grid)
    return sheet, row, column


def write_sprites(*, image: Callable[[int], np.ndarray], n: int, folder: Path, size: int,
                  grid: int) -> dict[str, Any]:
    """Render thumbnail(image(i), size=size) for i < n into sheets under `folder`; returns
    the manifest's `thumbnails` entry (tile size, grid, sheet files, colour mode)."""
    from PIL import Image

    from core.datasets.thumbnails import thumbnail

    thumbs = [thumbnail(image(i), size=size) for i in range(n)]
    shapes = np.array([t.shape[:2] for t in thumbs], dtype=np.uint16).reshape(n, 2)
    tile_h, tile_w = (int(v) for v in shapes.max(axis=0)) if n else (size, size)
    # grey sources (digits, Fashion-MNIST) compress to a third as one-channel PNGs
    gray = all(np.array_equal(t[..., 0], t[..., 1]) and np.array_equal(t[..., 0], t[..., 2])
               for t in thumbs)
    per_sheet = grid * grid
    sheets = []
    for sheet_index, start in enumerate(range(0, n, per_sheet)):
        count = min(per_sheet, n - start)
        rows = -(-count // grid)  # the last sheet only as tall as it needs
        canvas = np.zeros((rows * tile_h, grid * tile_w, 3), dtype=np.uint8)
        for offset in range(count):
            _, row, column = tile_position(offset, grid=grid)
            thumb = thumbs[start + offset]
            canvas[row * tile_h: row * tile_h + thumb.shape[0],
                   column * tile_w: column * tile_w + thumb.shape[1]] = thumb
        name = sprite_file(sheet_index)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(canvas[..., 0] if gray else canvas, mode="L" if gray else "RGB")
        picture.save(folder / name, format="PNG", optimize=True)
        sheets.append(name)
    np.save(folder / THUMB_SHAPES, shapes, allow_pickle=False)
    return {"size": size, "tile": [tile_h, tile_w], "grid": grid, "sheets": sheets,
            "mode": "L" if gray else "RGB", "shapes": THUMB_SHAPES}


def crop_tile(sheet: np.ndarray, *, index: int, grid: int, tile: tuple[int, int],
              shape: tuple[int, int]) -> np.ndarray:
    """Sample `index`'s thumbnail (of `shape`) out of its decoded sheet."""
    _, row, column = tile_position(index, grid=grid)
    top, left = row * tile[0], column * tile[1]
    return np.ascontiguousarray(sheet[top: top + shape[0], left: left + shape[1]])
