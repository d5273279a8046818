"""The CAM pointing game: a bright marker in one corner of every training image of one class
is a shortcut the head learns; on marked test images of that class (half of them, at
random) the predicted class's map should peak on the marker, on the unmarked other half it
should not. Marked test images of the other classes are reported too.

Two hit rates. The pointing game (Zhang et al. 2016): the peak of the map stretched over
the input lies within 15 px (of 224) of the marker's box. The strict one: the map's largest
conv cell is the marker's cell, the cell whose activations the marker changes most (the
backbone run on the marked test images and on the same images unmarked). That cell is
measured, not assumed: Lite0's corner cell sees mostly padding, and a probe (a 4 px dot
moved along the diagonal of a grey 224 px image) changed cell 1's activations most while the
dot lay anywhere in px 0–80, cell 0's far less. The same probe (`cell_alignment`, reported)
sets each cell's sensitivity centroid beside the centre `core.serving.cam.to_image_size`
draws it at: a development run found them 2 px apart on average (each within 22 px) at
224 px, where a half-cell offset would be 16 px, so the stretched map is not offset. Only the marked images get new transfer values.

Also times the maps of 24-image galleries at each `--gallery-sizes` input size (values and
head at that size; backbone loaded; cache cold): the first gallery after loading (its batch
shape new to the backbone, as a session's first page) and the next one."""

from __future__ import annotations

import tempfile

import numpy as np

from benchmarks.common import emit, input_parser, timer

MARKED_CLASS = 6  # Shirt
MARKED_TEST = 200  # marked test images of the other classes (reported beside)
GALLERY = 24


def mark(image: np.ndarray) -> np.ndarray:
    """A bright 4 × 4 px square one pixel in from the top-left corner (of 28 × 28)."""
    out = image.copy()
    out[1:5, 1:5] = 255
    return out


# the pointing game's tolerance (Zhang et al., ECCV 2016): a hit when the map's peak lies
# within 15 px (of a 224 px input) of the object's box
TOLERANCE = 15 / 224
MARKER_BOX = (1 / 28, 5 / 28)  # the square's extent as a fraction of the side, both axes


def peak_near_marker(grid: np.ndarray, size: int) -> bool:
    """The standard pointing game: the peak of the map stretched over the size × size input
    lies within TOLERANCE of the marker's box."""
    from core.serving.cam import peak, to_image_size

    row, column = peak(to_image_size(grid, (size, size)))
    low, high = (MARKER_BOX[0] - TOLERANCE) * size, (MARKER_BOX[1] + TOLERANCE) * size
    return bool(low <= row <= high and low <= column <= high)


def marker_cell(*, backbone: str, preprocessing, marked: np.ndarray,
                unmarked: np.ndarray) -> tuple[int, int]:
    """The conv cell whose activations the marker changes most (mean over the images of the
    summed absolute change over channels)."""
    from core.features.preprocessing import preprocess_image
    from core.serving.cam import _dual_function

    run = _dual_function(backbone, preprocessing.size)
    change = 0.0
    for start in range(0, len(marked), 32):
        conv = [np.asarray(run(np.stack([preprocess_image(image, preprocessing=preprocessing)
                                         for image in images[start:start + 32]]))[0])
                for images in (marked, unmarked)]
        change = change + np.abs(conv[0] - conv[1]).sum(axis=(0, 3))
    return tuple(int(v) for v in np.unravel_index(np.argmax(change), np.shape(change)))


def cell_alignment(*, backbone: str, preprocessing, step: int = 4) -> dict:
    """Where each diagonal conv cell looks: a 4 px white dot moved along the diagonal of a
    grey image; per cell, the dot positions weighted by the 4th power of the cell's summed
    absolute activation change give its sensitivity centroid, set beside the centre
    `core.serving.cam.to_image_size` draws the cell at (a bilinear stretch: (i + ½)·cell −
    ½ px). A systematic half-cell offset would show as offsets near cell/2."""
    from core.features.preprocessing import preprocess_image
    from core.serving.cam import _dual_function

    size = preprocessing.size
    run = _dual_function(backbone, size)
    grey = np.full((size, size), 60, np.uint8)
    positions = np.arange(0, size - 4, step)
    images = [grey]
    for p in positions:
        dotted = grey.copy()
        dotted[p:p + 4, p:p + 4] = 255
        images.append(dotted)
    conv = np.concatenate([np.asarray(run(np.stack([preprocess_image(i, preprocessing=preprocessing)
                                                    for i in images[start:start + 32]]))[0])
                           for start in range(0, len(images), 32)])
    change = np.abs(conv[1:] - conv[:1]).sum(axis=3)
    cells = change.shape[1]
    centres = positions + 1.5
    weights = np.stack([change[:, i, i] ** 4 for i in range(cells)], axis=1)
    centroids = (weights * centres[:, None]).sum(axis=0) / weights.sum(axis=0)
    drawn = (np.arange(cells) + 0.5) * size / cells - 0.5
    offset = centroids - drawn
    return {"cell_px": size / cells, "centroids": centroids.round(1).tolist(),
            "drawn": drawn.round(1).tolist(), "mean_offset": float(offset.mean()),
            "max_abs_offset": float(np.abs(offset).max())}


def marked_values(*, base, dataset, changed: np.ndarray, backbone: str, size: int | None,
                  head: str):
    """(values of the marked dataset at `size`, the head trained on them, preprocessing):
    the base values from the cache, only the changed rows extracted anew."""
    from core.features.feature_sets import feature_values, from_arrays
    from core.features.preprocessing import preprocessing_of
    from core.heads import train_head

    base_tv = feature_values(dataset=base, backbone=backbone, image_size=size)
    changed_tv = feature_values(dataset=dataset.subset(np.sort(changed), tag="marked"),
                                backbone=backbone, image_size=size)
    values = np.array(base_tv.values, np.float32)
    values[np.sort(changed)] = np.asarray(changed_tv.values, np.float32)
    tv = from_arrays(values=values, labels=np.asarray(base.labels), splits=base.splits,
                     sample_ids=np.asarray(base.sample_ids).astype(str),
                     class_names=base.class_names, name=f"marked-{MARKED_CLASS}")
    return tv, train_head(tv=tv, head=head), preprocessing_of(base_tv.manifest)


def gallery_seconds(*, dataset, tv, trained, backbone: str, preprocessing,
                    galleries: list[np.ndarray]) -> list[float]:
    """Seconds for each gallery's maps in turn, the backbone loaded (one image's maps first)
    and the cache cold."""
    from core.serving.cam import class_activation_maps

    out = []
    with tempfile.TemporaryDirectory() as cold:
        class_activation_maps(dataset=dataset, tv=tv, trained=trained,
                              indices=galleries[0][:1], backbone=backbone,
                              preprocessing=preprocessing, cache_dir=cold)
        for rows in galleries:
            with timer() as took:
                class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                      backbone=backbone, preprocessing=preprocessing,
                                      cache_dir=cold)
            out.append(took["seconds"])
    return out


def main() -> None:
    parser = input_parser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head", default="logreg")
    parser.add_argument("--gallery-sizes", default="96,224",
                        help="input sizes (px) at which a 24-image gallery's maps are timed")
    args = parser.parse_args()

    from core.base.splits import TEST, TRAIN
    from core.datasets import load_dataset
    from core.datasets.base import make_array_dataset
    from core.serving.cam import class_activation_maps

    base = load_dataset(name=args.dataset).limited(limit=args.limit or None)
    size = args.size or None
    rng = np.random.default_rng(args.seed)
    labels, splits = np.asarray(base.labels), np.asarray(base.splits)
    originals = base.images.batch(np.arange(len(base)))
    images = originals.copy()
    train_marked = np.flatnonzero((splits == TRAIN) & (labels == MARKED_CLASS))
    test_other = np.sort(rng.choice(np.flatnonzero((splits == TEST) & (labels != MARKED_CLASS)),
                                    size=MARKED_TEST, replace=False))
    test_class = rng.permutation(np.flatnonzero((splits == TEST) & (labels == MARKED_CLASS)))
    test_marked, test_unmarked = np.sort(test_class[::2]), np.sort(test_class[1::2])
    changed = np.concatenate([train_marked, test_marked, test_other])
    for row in changed:
        images[row] = mark(images[row])
    ids = np.asarray(base.sample_ids).astype(str)
    dataset = make_array_dataset(name=f"marked {MARKED_CLASS}", images=images, labels=labels,
                                 class_names=base.class_names, splits=splits,
                                 sample_ids=ids, source="planted")
    tv, trained, preprocessing = marked_values(base=base, dataset=dataset, changed=changed,
                                               backbone=args.backbone, size=size,
                                               head=args.head)
    cell = marker_cell(backbone=args.backbone, preprocessing=preprocessing,
                       marked=images[test_marked], unmarked=originals[test_marked])
    alignment = cell_alignment(backbone=args.backbone, preprocessing=preprocessing)

    def pointing(rows: np.ndarray) -> dict:
        maps = class_activation_maps(dataset=dataset, tv=tv, trained=trained, indices=rows,
                                     backbone=args.backbone, preprocessing=preprocessing)
        grid = maps.predicted_grid.shape[1:]
        peaks = [np.unravel_index(np.argmax(g), grid) for g in maps.predicted_grid]
        on_marker = np.array([tuple(map(int, p)) == cell for p in peaks])
        as_marked = maps.predicted == MARKED_CLASS
        # the marker cell's place among each map's cells (1 = the peak), and the mean map
        flat = maps.predicted_grid.reshape(len(rows), -1)
        index = cell[0] * grid[1] + cell[1]
        ranks = 1 + (flat > flat[:, index:index + 1]).sum(axis=1)
        centred = flat - flat.mean(axis=1, keepdims=True)
        near = np.array([peak_near_marker(g, preprocessing.size) for g in maps.predicted_grid])
        return {"images": int(len(rows)), "peak_on_marker": float(on_marker.mean()),
                "pointing_game_hit": float(near.mean()),
                "peak_on_marker_when_predicted_marked_class":
                    float(on_marker[as_marked].mean()) if as_marked.any() else None,
                "predicted_marked_class": float(np.mean(maps.predicted == MARKED_CLASS)),
                "marker_cell_mean_rank": float(ranks.mean()),
                "mean_centred_map": centred.mean(axis=0).reshape(grid).round(3).tolist(),
                "method": maps.method, "grid": list(map(int, grid))}

    marked_result = pointing(test_marked)
    unmarked_result = pointing(test_unmarked)
    other_result = pointing(test_other)
    pool = rng.permutation(np.setdiff1d(np.flatnonzero(splits == TEST),
                                        np.concatenate([test_class, test_other])))
    galleries = [np.sort(pool[:GALLERY]), np.sort(pool[GALLERY:2 * GALLERY])]
    timings = {}
    for gallery_size in (int(v) for v in args.gallery_sizes.split(",") if v.strip()):
        if gallery_size == preprocessing.size:
            at = (tv, trained, preprocessing)
        else:
            at = marked_values(base=base, dataset=dataset, changed=changed,
                               backbone=args.backbone, size=gallery_size, head=args.head)
        first, after = gallery_seconds(dataset=dataset, tv=at[0], trained=at[1],
                                       backbone=args.backbone, preprocessing=at[2],
                                       galleries=galleries)
        timings[str(gallery_size)] = {"first": first, "next": after}
    emit({"dataset": args.dataset, "n": tv.n, "head": args.head, "seed": args.seed,
          "size": preprocessing.size, "marked_class": base.class_names[MARKED_CLASS],
          "marked_train": int(len(train_marked)), "marker_cell": list(cell),
          "alignment": alignment,
          "marked_test": marked_result, "unmarked_same_class": unmarked_result,
          "marked_other_classes": other_result,
          "gallery_images": GALLERY, "gallery_seconds": timings,
          "test_accuracy": trained.metrics.get("test_accuracy")})


if __name__ == "__main__":
    main()
