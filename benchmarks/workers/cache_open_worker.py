"""Cached transfer values: build a synthetic entry, or open one and draw its first PCA;
or open a published bundle.

Two phases in two processes, so opening is measured in a process that has not just
written (and checksummed) the entry: `--phase build` writes it through the core cache API
(`core.features.feature_sets.from_arrays`), `--phase open` opens it as the app would.
The file is still in the OS page cache after the build (a warm open, stated in the report).
`--phase bundle` opens a published bundle (`core.publish.open_bundle`) in a fresh process,
as the public app does, and says whether that imported TensorFlow.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import emit, peak_rss_mb, timer


def build(*, n: int, dim: int, cache_dir: str) -> dict:
    from benchmarks.features import synthetic_blobs
    from core.base.cache import folder_size
    from core.features.feature_sets import from_arrays

    values, labels = synthetic_blobs(n=n, dim=dim)
    with timer() as took:
        tv = from_arrays(values=values, labels=labels, name=f"cache-bench-{n}",
                         cache_dir=cache_dir)
    return {"key": tv.key, "n": tv.n, "dim": tv.dim, "write_seconds": took["seconds"],
            "bytes": folder_size(tv.path.parent)}


def open_and_project(*, key: str, cache_dir: str) -> dict:
    started = time.perf_counter()
    from core.features.feature_sets import load_feature_set
    from core.analysis.projections import compute_projection
    from sklearn.decomposition import PCA  # noqa: F401  (imported on first use otherwise)

    imports = time.perf_counter() - started
    with timer() as opened:  # mmap plus the checksum check of every file (first open)
        tv = load_feature_set(key=key, cache_dir=cache_dir)
    if tv is None:
        raise SystemExit(f"no cache entry {key} under {cache_dir}")
    with timer() as reopened:  # same process: checksums already verified, mmap only
        load_feature_set(key=key, cache_dir=cache_dir)
    with timer() as pca:
        projection = compute_projection(tv=tv, method="pca", dims=2, cache_dir=cache_dir)
    return {"n": tv.n, "dim": tv.dim, "import_seconds": imports,
            "open_seconds": opened["seconds"], "reopen_seconds": reopened["seconds"],
            "pca_seconds": pca["seconds"], "pca_solver": projection.details.get("solver"),
            "pca_cache": projection.cache,
            "open_to_pca_seconds": opened["seconds"] + pca["seconds"],
            "peak_rss_mb": peak_rss_mb()}


def open_published(*, bundle: str) -> dict:
    import sys

    started = time.perf_counter()
    from core.publish import open_bundle

    imports = time.perf_counter() - started
    with timer() as opened:  # manifest, checksums, mmap of the arrays
        opened_bundle = open_bundle(bundle)
    with timer() as first_use:  # what the first page needs: head, issues, a sprite, kNN, UMAP
        (opened_bundle.head, opened_bundle.label_issues, opened_bundle.thumbnail(0),
         opened_bundle.transfer_values(), opened_bundle.knn_graph(),
         opened_bundle.projection("umap"))
    return {"n": int(opened_bundle.values.shape[0]), "import_seconds": imports,
            "open_seconds": opened["seconds"], "first_use_seconds": first_use["seconds"],
            "tensorflow_imported": "tensorflow" in sys.modules or "keras" in sys.modules,
            "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=("build", "open", "bundle"), required=True)
    parser.add_argument("--cache-dir")
    parser.add_argument("--bundle", help="--phase bundle: the bundle's folder")
    parser.add_argument("--n", type=int, default=70_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.phase == "build":
        emit(build(n=args.n, dim=args.dim, cache_dir=args.cache_dir))
    elif args.phase == "bundle":
        emit(open_published(bundle=args.bundle))
    else:
        emit(open_and_project(key=args.key, cache_dir=args.cache_dir))


if __name__ == "__main__":
    main()
