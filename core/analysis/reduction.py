"""PCA of a transfer-values matrix, cached: the 2-/3-D PCA view and the 50-D input of t-SNE,
UMAP and the kNN graph.

Randomized SVD above `RANDOMIZED_ABOVE` rows: measured on 50k × 2048, full SVD took 12–50 s
and randomized 1.5–2.4 s, with the leading components matching to plotting precision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from core.base.cache import ArrayCache
from core.base.hashing import hash_key
from core.base.progress import Progress, ProgressCallback
from core.features.transfer_values import TransferValues

KIND = "reductions"
REDUCTION_VERSION = 1
RANDOMIZED_ABOVE = 5000  # rows; below this full SVD is fast and exact
SHARED_SEED = 0  # the shared PCA-50 input is seeded once, so every projection seed reuses it


@dataclass
class PCAReduction:
    """`coords` (N, k) float32 plus what is needed to project new rows the same way."""

    coords: np.ndarray
    components: np.ndarray  # (k, D)
    mean: np.ndarray  # (D,)
    explained_variance_ratio: np.ndarray  # (k,)
    solver: str
    key: str
    cache: str
    seconds: float

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, np.float32) - self.mean) @ self.components.T).astype(np.float32)


def resolve_solver(solver: str, n: int) -> str:
    if solver == "auto":
        return "randomized" if n > RANDOMIZED_ABOVE else "full"
    if solver not in ("full", "randomized"):
        raise ValueError(f"PCA solver must be auto, full or randomized, not {solver!r}")
    return solver


def pca_reduce(*, tv: TransferValues, dims: int, solver: str = "auto", seed: int = SHARED_SEED,
               cache_dir: str | Path | None = None,
               progress: Optional[ProgressCallback] = None) -> PCAReduction:
    """The first `dims` principal components of tv.values (centred, not scaled), cached."""
    started = time.perf_counter()
    dims = int(min(dims, tv.n, tv.dim))
    solver = resolve_solver(solver, tv.n)
    fields = {"tv": tv.key, "method": "pca", "dims": dims, "solver": solver,
              "seed": int(seed) if solver == "randomized" else None, "version": REDUCTION_VERSION}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        if progress is not None:
            progress(Progress(f"PCA-{dims} ({solver})", 0, 1))
        arrays = _fit_pca(np.asarray(tv.values, dtype=np.float32), dims, solver, seed)
        return arrays, {"key_fields": fields}

    entry, status = cache.load_or_compute(key, compute)
    if progress is not None:
        progress(Progress(f"PCA-{dims} ({solver})", 1, 1, message=status))
    return PCAReduction(coords=entry["coords"], components=np.asarray(entry["components"]),
                        mean=np.asarray(entry["mean"]),
                        explained_variance_ratio=np.asarray(entry["explained_variance_ratio"]),
                        solver=solver, key=key, cache=status,
                        seconds=time.perf_counter() - started)


def _fit_pca(values: np.ndarray, dims: int, solver: str, seed: int) -> dict[str, np.ndarray]:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dims, svd_solver=solver,
              random_state=seed if solver == "randomized" else None)
    coords = pca.fit_transform(values)
    return {"coords": coords.astype(np.float32), "components": pca.components_.astype(np.float32),
            "mean": pca.mean_.astype(np.float32),
            "explained_variance_ratio": pca.explained_variance_ratio_.astype(np.float32)}


def reduced_values(*, tv: TransferValues, pca_dims: int | None, cache_dir: str | Path | None = None,
                   progress: Optional[ProgressCallback] = None) -> np.ndarray:
    """tv.values reduced to `pca_dims` with the shared PCA, or as float32 when no reduction
    applies (pca_dims None/0, or not smaller than the feature dimension)."""
    if not pca_dims or pca_dims >= min(tv.dim, tv.n):
        return np.asarray(tv.values, dtype=np.float32)
    return np.asarray(pca_reduce(tv=tv, dims=pca_dims, cache_dir=cache_dir, progress=progress).coords)


def effective_pca_dims(tv: TransferValues, pca_dims: int | None) -> int | None:
    """The reduction actually applied (None = raw features): goes into dependent cache keys."""
    if not pca_dims or pca_dims >= min(tv.dim, tv.n):
        return None
    return int(pca_dims)
