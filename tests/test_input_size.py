"""The input size chosen when the user does not choose one follows the images' own size, for
folders as for built-in arrays (issue 28 item 8: a folder of 28×28 images got 224 px)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.backbones.registry import get_backbone as get_spec
from core.datasets.folder import load_image_folder
from core.datasets.registry import load_dataset
from core.features.input_size import SMALL_IMAGE_INPUT, default_image_size


def _folder(root, size: tuple[int, int], per_class: int = 6):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return load_image_folder(path=root)


def test_a_folder_of_small_images_gets_the_small_input_like_the_built_in_arrays(tmp_path):
    spec = get_spec("efficientnet_lite0")
    small = _folder(tmp_path / "small", (28, 28))
    assert default_image_size(dataset=small, spec=spec) == SMALL_IMAGE_INPUT == 96
    assert default_image_size(dataset=load_dataset(name="digits"), spec=spec) == 96


def test_a_folder_of_photos_gets_the_native_input(tmp_path):
    spec = get_spec("efficientnet_lite0")
    photos = _folder(tmp_path / "photos", (300, 200))
    assert default_image_size(dataset=photos, spec=spec) == spec.native_size == 224
