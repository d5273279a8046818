"""PCA of a transfer-values matrix, cached: the 2-/3-D PCA view and the 50-D input of t-SNE,
UMAP and the kNN graph.

Randomized SVD above `RANDOMIZED_ABOVE` rows: measured on 50k × 2048, full SVD took 12–50 s
and randomized 1.5–2.4 s, with the leading components matching to plotting precision.
Above `COVARIANCE_ABOVE_BYTES` of values (a million Fashion-MNIST images are 5.1 GB), the
exact PCA comes from the D×D covariance accumulated chunk by chunk: scikit-learn centres a
copy of the whole matrix, which with the memory-mapped original is twice the values in RAM.
"""

from __future__ import annotations

import mmap
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
COVARIANCE_ABOVE_BYTES = 1 << 30  # float32 values above 1 GiB: PCA from the covariance...
COVARIANCE_UP_TO_DIM = 4096  # ...unless the D×D matrix itself gets large
CHUNK_ROWS = 16_384


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


SOLVERS = ("full", "randomized", "covariance")


def resolve_solver(solver: str, n: int, dim: int) -> str:
    if solver == "auto":
        if n * dim * 4 > COVARIANCE_ABOVE_BYTES and dim <= COVARIANCE_UP_TO_DIM:
            return "covariance"
        return "randomized" if n > RANDOMIZED_ABOVE else "full"
    if solver not in SOLVERS:
        raise ValueError(f"PCA solver must be auto or one of {SOLVERS}, not {solver!r}")
    return solver


def pca_reduce(*, tv: TransferValues, dims: int, solver: str = "auto", seed: int = SHARED_SEED,
               cache_dir: str | Path | None = None,
               progress: Optional[ProgressCallback] = None) -> PCAReduction:
    """The first `dims` principal components of tv.values (centred, not scaled), cached."""
    started = time.perf_counter()
    dims = int(min(dims, tv.n, tv.dim))
    solver = resolve_solver(solver, tv.n, tv.dim)
    fields = {"tv": tv.key, "method": "pca", "dims": dims, "solver": solver,
              "seed": int(seed) if solver == "randomized" else None, "version": REDUCTION_VERSION}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        if progress is not None:
            progress(Progress(f"PCA-{dims} ({solver})", 0, 1))
        if solver == "covariance":
            arrays = _fit_pca_by_covariance(tv.values, dims, progress=progress)
        else:
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


def _fit_pca_by_covariance(values: np.ndarray, dims: int,
                           progress: Optional[ProgressCallback] = None) -> dict[str, np.ndarray]:
    """Exact PCA in three passes over row chunks: the mean, the D×D scatter of the centred
    rows (float32 products summed in float64) whose eigenvectors are the components, then
    the coordinates. Memory:
    one chunk and D² beyond the result; pages of a memory-mapped matrix are released after
    each chunk. Signs follow scikit-learn's (each component's largest loading positive)."""
    n, d = values.shape
    passes = 3 * n

    def rows(pass_index: int):
        for start in range(0, n, CHUNK_ROWS):
            stop = min(n, start + CHUNK_ROWS)
            yield np.asarray(values[start:stop], np.float32)
            _release(values, start, stop)
            if progress is not None:
                progress(Progress(f"PCA-{dims} (covariance)", pass_index * n + stop, passes))

    total = np.zeros(d, np.float64)
    for chunk in rows(0):
        total += chunk.sum(axis=0, dtype=np.float64)
    mean = (total / n).astype(np.float32)
    scatter = np.zeros((d, d), np.float64)
    for chunk in rows(1):
        centred = chunk - mean
        scatter += centred.T @ centred
    eigenvalues, eigenvectors = np.linalg.eigh(scatter / max(n - 1, 1))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0, None)
    components = eigenvectors[:, order[:dims]].T
    strongest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(dims), strongest])[:, None]
    components = components.astype(np.float32)
    coords = np.empty((n, dims), np.float32)
    start = 0
    for chunk in rows(2):
        coords[start:start + len(chunk)] = (chunk - mean) @ components.T
        start += len(chunk)
    return {"coords": coords, "components": components, "mean": mean,
            "explained_variance_ratio": (eigenvalues[:dims] / eigenvalues.sum()).astype(np.float32)}


def _release(values: np.ndarray, start: int, stop: int) -> None:
    """Drop rows start..stop of a read-only memory map from this process's resident set (the
    file stays in the page cache), so a pass over 5 GB does not hold 5 GB."""
    base = values
    while base is not None and not isinstance(getattr(base, "_mmap", None), mmap.mmap):
        base = getattr(base, "base", None)
    if (base is None or not hasattr(mmap, "MADV_DONTNEED") or values.flags.writeable
            or not values.flags.c_contiguous):
        return  # only a read-only map's pages can be dropped without losing anything
    mapped = base._mmap
    row_bytes = values.strides[0]
    first = values.ctypes.data - np.frombuffer(mapped, np.uint8).ctypes.data + start * row_bytes
    begin = first - first % mmap.PAGESIZE
    length = (first + (stop - start) * row_bytes - begin) // mmap.PAGESIZE * mmap.PAGESIZE
    if begin >= 0 and length > 0:
        try:
            mapped.madvise(mmap.MADV_DONTNEED, begin, length)
        except (OSError, ValueError):
            pass  # an advice, not a requirement


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
