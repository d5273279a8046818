"""Where OpenVINO's bf16 error comes from, in its own process (issue 31, docs/runtimes.md):
each convolution alone in bf16 with everything else kept f32 (the mean relative error of the
features against f32 on `--n` images), then the input and the first k convolutions kept f32
for each k of `--keep` (kNN@15 overlap on the PCA-50 graph and cosines against f32 on
`--knn-n` images, as `runtime_downstream_worker` draws them). Values only: no timing."""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--n", type=int, default=512, help="images for the per-layer errors")
    parser.add_argument("--knn-n", type=int, default=10_000)
    parser.add_argument("--keep", default="0,3,6,9,15", help="convolutions kept f32")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer errors")
    args = parser.parse_args()

    import openvino as ov

    from benchmarks.workers.runtime_downstream_worker import cosines, neighbour_overlap
    from core.backbones.converted import ANY_SIZE, backbone_fields
    from core.backbones.openvino_runtime import (CONVOLUTIONS, OpenVinoForward, converted_model,
                                                 keep_f32, serialised_ir, start_operations)
    from core.backbones.registry import get_backbone
    from core.datasets import default_dataset_name, load_dataset
    from core.features.preprocessing import Preprocessing, preprocess_batch_numpy

    spec, size = get_backbone(args.backbone), args.size
    name = default_dataset_name()
    data = load_dataset(name=name).limited(limit=args.knn_n, seed=1)
    preprocessing = Preprocessing(size=size, crop_fraction=data.crop_fraction)
    rows = np.arange(len(data))

    def batches(count: int):
        for start in range(0, count, 64):
            batch = data.images.batch(rows[start:min(count, start + 64)])
            yield preprocess_batch_numpy(batch[..., None] if batch.ndim == 3 else batch,
                                         preprocessing=preprocessing)

    model = converted_model(fields={**backbone_fields(spec, size), "image_size": ANY_SIZE},
                            build=lambda: spec.build(input_size=size), image_size=None,
                            writer=spec.onnx_writer)  # as extraction converts it
    files = serialised_ir(ov, model)
    weights = ov.Tensor(np.frombuffer(files["bin"], np.uint8).copy())

    def values(names: set[str] | None, count: int) -> np.ndarray:
        """f32 (names None), else bf16 with `names` (and the input) kept f32."""
        read = model.clone() if names is None else keep_f32(xml=files["xml"], weights=weights,
                                                            names=names)
        forward = OpenVinoForward(model=read, precision="f32" if names is None else "bf16",
                                  image_size=size)
        return np.concatenate(list(forward.map(batches(count))))

    f32 = values(None, len(data))
    operations = {op.get_friendly_name() for op in model.get_ordered_ops()
                  if op.get_type_name() not in ("Parameter", "Constant", "Result")}
    convolutions = [op.get_friendly_name() for op in model.get_ordered_ops()
                    if op.get_type_name() in CONVOLUTIONS]
    result = {"dataset": name, "size": size, "n": args.n, "knn_n": len(data),
              "openvino": ov.__version__, "layers": [], "kept": []}
    if not args.no_layers:
        reference = f32[:args.n]
        for position, convolution in enumerate(convolutions):
            got = values(operations - {convolution}, args.n)
            error = np.linalg.norm(got - reference, axis=1) / np.linalg.norm(reference, axis=1)
            result["layers"].append({"position": position, "name": convolution,
                                     "relative_error": float(error.mean())})
    neighbours = _neighbours(f32)
    for kept in (int(k) for k in args.keep.split(",")):
        got = values(start_operations(model, kept), len(data))
        cosine = cosines(f32, got)
        result["kept"].append({"f32_convolutions": kept,
                               "knn15_overlap": neighbour_overlap(neighbours, _neighbours(got)),
                               "median_cosine": float(np.median(cosine)),
                               "min_cosine": float(cosine.min())})
    emit(result)


def _neighbours(values: np.ndarray) -> np.ndarray:
    """Each row's 15 nearest neighbours on the PCA-50 reduction, as the kNN views use them."""
    from sklearn.decomposition import PCA

    from core.analysis.neighbors import KNNGraph

    reduced = PCA(n_components=50, svd_solver="full").fit_transform(values).astype(np.float32)
    return KNNGraph(n_neighbors=15).fit(reduced).indices_


if __name__ == "__main__":
    main()
