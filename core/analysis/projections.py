"""2-D/3-D projections of transfer values: PCA, t-SNE (openTSNE) and UMAP (umap-learn).

Each projection is cached under (transfer-values key, method, dims, resolved parameters,
seed), so asking twice is instant. t-SNE and UMAP run on the shared PCA-50 reduction and
the shared kNN graph (`core.analysis.neighbors`), so the expensive neighbour search is done once
per transfer-values matrix.

Two UMAP traps are handled here:
- `import umap` imports TensorFlow (for ParametricUMAP) — seconds and a GB we do not need;
  `import_umap_class` blocks that one sub-module during the import.
- numba compiles UMAP's kernels on the first fit in a process (~30 s without a precomputed
  kNN graph, ~7 s with one); `warm_up_umap_in_background` does it once in a thread, and
  `compute_projection` reports progress while waiting for it instead of freezing. The
  kernels it compiles are kept in numba's disk cache (CACHED_KERNELS), so only the first
  process on a machine compiles them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from core.analysis.projection_params import chosen_defaults, chosen_specs
from core.base.cache import ArrayCache
from core.base.hashing import hash_key
from core.base.jobs import heavy_job
from core.base.progress import Progress, ProgressCallback
from core.features.transfer_values import TransferValues

KIND = "projections"
PROJECTION_VERSION = 1
# t-SNE 2: Barnes-Hut/FFT switch at 5k points, every core at any N, FFT grid of 1.5 embedding
# units per interval, 125 exaggerated iterations (benchmarks/RESULTS.md, section 3)
_VERSIONS = {"pca": PROJECTION_VERSION, "tsne": 2, "umap": PROJECTION_VERSION}
METHODS = ("pca", "tsne", "umap")
_DEFAULTS: dict[str, dict[str, Any]] = {
    "pca": {"solver": "auto"},
    # n_iter counts all iterations, the early-exaggeration ones included (openTSNE counts
    # the two phases separately). 125 + 375 keeps each point's neighbours as well as 250 +
    # 500 and scikit-learn's 750 do, at two thirds of the cost (RESULTS.md, section 3).
    # the parameters a user chooses (perplexity; n_neighbors, min_dist) come from
    # core.analysis.projection_params, where their bounds are declared
    "tsne": {**chosen_defaults("tsne"), "n_iter": 500, "exaggeration_iter": 125,
             "pca_dims": 50, "landmarks": "auto"},
    "umap": {**chosen_defaults("umap"), "metric": "euclidean", "pca_dims": 50,
             "landmarks": "auto"},
}
# Above LANDMARKS_ABOVE points, t-SNE and UMAP are fitted on a seeded sample of
# LANDMARK_SAMPLE points and the rest are placed into that map by the library's own
# `transform`, PLACE_CHUNK points at a time (progress and ETA between chunks).
LANDMARKS_ABOVE = 100_000
LANDMARK_SAMPLE = 50_000
PLACE_CHUNK = 25_000
MIN_LANDMARKS = 20
# Measured on 2 cores (RESULTS.md, section 3): Barnes-Hut and FFT cost the same near 5k
# points, FFT is 1.6× faster at 10k. openTSNE's FFT grid has one interval per embedding
# unit by default, so late iterations of a spread-out map are dominated by the FFT of a
# large grid; 1.5 units per interval made 10k points 2.4× faster with the same recall@10.
FFT_ABOVE = 5_000  # samples
FFT_INTS_IN_INTERVAL = 1.5
AFFINITY_KIND = "tsne_affinities"
AFFINITY_VERSION = 1



def _silence_umap_notices() -> None:
    # umap-learn warns on every seeded fit that seeding disables its parallelism, and that a
    # precomputed kNN graph without a search index cannot transform new points: both intended.
    warnings.filterwarnings("ignore", message="n_jobs value .* overridden", category=UserWarning)
    warnings.filterwarnings("ignore", message=".*precomputed_knn.*", category=UserWarning)


_silence_umap_notices()  # also covers the warm-up thread (catch_warnings is not thread-safe)


@dataclass
class Projection:
    coords: np.ndarray  # (N, dims) float32
    method: str
    dims: int
    params: dict[str, Any]
    key: str
    cache: str  # "hit" or "miss"
    seconds: float
    explained_variance: Optional[np.ndarray] = None  # PCA only: ratio per component
    seed: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    # landmark runs: sorted indices of the points the map was fitted on (the others were
    # placed into it by `transform`); None when every point was fitted
    fitted: Optional[np.ndarray] = None

    @property
    def placed(self) -> int:
        """How many points were placed into the map rather than fitted."""
        return 0 if self.fitted is None else len(self.coords) - len(self.fitted)


def default_params(method: str) -> dict[str, Any]:
    if method not in _DEFAULTS:
        raise ValueError(f"unknown projection method {method!r}; choose one of {METHODS}")
    return dict(_DEFAULTS[method])


def resolve_params(method: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with `params`; unknown names are an error (a typo must not be
    silently ignored and cached)."""
    resolved = default_params(method)
    unknown = set(params or {}) - set(resolved)
    if unknown:
        raise ValueError(f"unknown {method} parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(resolved)}")
    resolved.update(params or {})
    for name, spec in chosen_specs(method).items():  # bounded before any work
        resolved[name] = spec.check(name, resolved[name])
    if method == "tsne":
        resolved["perplexity"] = float(resolved["perplexity"])
        resolved["n_iter"] = int(resolved["n_iter"])
        resolved["exaggeration_iter"] = int(resolved["exaggeration_iter"])
        if not 0 <= resolved["exaggeration_iter"] < resolved["n_iter"]:
            raise ValueError(f"t-SNE n_iter ({resolved['n_iter']}) must exceed its "
                             f"{resolved['exaggeration_iter']} early-exaggeration iterations")
    if method == "umap":
        resolved["n_neighbors"] = int(resolved["n_neighbors"])
        resolved["min_dist"] = float(resolved["min_dist"])
        if resolved["metric"] not in ("euclidean", "cosine"):
            raise ValueError("UMAP metric must be euclidean or cosine")
    if "pca_dims" in resolved and resolved["pca_dims"] is not None:
        resolved["pca_dims"] = int(resolved["pca_dims"])
    if "landmarks" in resolved and resolved["landmarks"] != "auto":
        landmarks = resolved["landmarks"]
        if not isinstance(landmarks, (int, float)) or isinstance(landmarks, bool) \
                or int(landmarks) != landmarks or landmarks < 0:
            raise ValueError(f"{method} landmarks must be \"auto\", 0 (fit every point) or a "
                             f"number of points to fit on, got {landmarks!r}")
        resolved["landmarks"] = int(landmarks)
    return resolved


def landmark_count(*, n: int, landmarks: int | str) -> int | None:
    """How many points a t-SNE/UMAP map of `n` points is fitted on (None: all of them).
    "auto" is LANDMARK_SAMPLE above LANDMARKS_ABOVE points; 0 or ≥ n fits every point."""
    if landmarks == "auto":
        return LANDMARK_SAMPLE if n > LANDMARKS_ABOVE else None
    landmarks = int(landmarks)
    if landmarks <= 0 or landmarks >= n:
        return None
    if landmarks < MIN_LANDMARKS:
        raise ValueError(f"fit on at least {MIN_LANDMARKS} landmarks, not {landmarks}")
    return landmarks


def landmark_sample(*, n: int, count: int, seed: int) -> np.ndarray:
    """The seeded, sorted sample of `count` of `n` points a landmark map is fitted on."""
    return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))


def compute_projection(*, tv: TransferValues, method: str, dims: int = 2,
                       params: dict[str, Any] | None = None, seed: int = 0,
                       cache_dir: str | Path | None = None,
                       progress: Optional[ProgressCallback] = None,
                       gated: bool = True) -> Projection:
    """The `method` projection of tv to `dims` (2 or 3) dimensions, from the cache or computed.
    `gated`: t-SNE and UMAP wait for a heavy-job slot (core.base.jobs); False runs at once,
    beside the job that holds it (a small first map drawn while its values are extracted)."""
    if dims not in (2, 3):
        raise ValueError("dims must be 2 or 3")
    if tv.n < 4 or tv.dim < dims:
        raise ValueError(f"a {dims}-D projection needs at least 4 samples and {dims} features")
    params = resolve_params(method, params)
    started = time.perf_counter()
    from core.analysis.reduction import effective_pca_dims

    key_params = dict(params)
    if "pca_dims" in key_params:  # 50 and "more than the features" must share one entry
        key_params["pca_dims"] = effective_pca_dims(tv, params["pca_dims"])
    landmarks = None
    if "landmarks" in key_params:
        # only a landmark run has it in its key, so maps fitted on every point keep their
        # entries from before landmarks existed
        landmarks = landmark_count(n=tv.n, landmarks=key_params.pop("landmarks"))
        if landmarks is not None:
            key_params["landmarks"] = landmarks
    fields = {"tv": tv.key, "method": method, "dims": dims, "params": key_params,
              "seed": int(seed), "version": _VERSIONS[method]}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        # PCA takes seconds even at 70k points; t-SNE and UMAP are the heavy ones
        gate = heavy_job(name=f"{method} of {tv.n:,} points", progress=progress) \
            if method != "pca" and gated else nullcontext()
        with gate:
            if landmarks is not None:
                arrays, details = _run_landmarks(tv=tv, method=method, dims=dims, params=params,
                                                 seed=seed, landmarks=landmarks,
                                                 cache_dir=cache_dir, progress=progress)
            else:
                runner = {"pca": _run_pca, "tsne": _run_tsne, "umap": _run_umap}[method]
                arrays, details = runner(tv=tv, dims=dims, params=params, seed=seed,
                                         cache_dir=cache_dir, progress=progress)
        details["compute_seconds"] = round(time.perf_counter() - started, 3)
        return arrays, {"key_fields": fields, "details": details}

    entry, status = cache.load_or_compute(key, compute)
    explained = entry.arrays.get("explained_variance")
    fitted = entry.arrays.get("fitted")
    return Projection(coords=entry["coords"], method=method, dims=dims, params=params, key=key,
                      cache=status, seconds=time.perf_counter() - started,
                      explained_variance=None if explained is None else np.asarray(explained),
                      seed=int(seed), details=dict(entry.manifest.get("details", {})),
                      fitted=None if fitted is None else np.asarray(fitted))


# --- PCA ---

def _run_pca(*, tv, dims, params, seed, cache_dir, progress):
    from core.analysis.reduction import pca_reduce

    reduction = pca_reduce(tv=tv, dims=dims, solver=params["solver"], seed=seed,
                           cache_dir=cache_dir, progress=progress)
    return ({"coords": np.asarray(reduction.coords, np.float32),
             "explained_variance": reduction.explained_variance_ratio},
            {"solver": reduction.solver})


# --- t-SNE ---

def _run_tsne(*, tv, dims, params, seed, cache_dir, progress):
    from core.analysis.reduction import reduced_values

    X = reduced_values(tv=tv, pca_dims=params["pca_dims"], cache_dir=cache_dir, progress=progress)
    affinities, k = tsne_affinities(tv=tv, perplexity=params["perplexity"],
                                    pca_dims=params["pca_dims"], cache_dir=cache_dir,
                                    progress=progress)
    tsne, engine = _tsne_estimator(n=tv.n, dims=dims, params=params, seed=seed,
                                   progress=progress, stage="t-SNE")
    embedding = tsne.fit(X, affinities=affinities, initialization="pca")
    return ({"coords": np.asarray(embedding, dtype=np.float32)},
            {"knn_neighbors": k, **engine, "kl_divergence": float(embedding.kl_divergence)})


def _tsne_estimator(*, n: int, dims: int, params: dict[str, Any], seed: int,
                    progress: Optional[ProgressCallback], stage: str):
    """openTSNE's TSNE for `n` points with our gradient method, threads and FFT grid, and
    the settings it ran with (for the projection's details)."""
    from openTSNE import TSNE

    total, exaggerated = params["n_iter"], params["exaggeration_iter"]
    gradient = tsne_gradient_method(n=n, dims=dims)
    tsne = TSNE(n_components=dims, n_iter=total - exaggerated,
                early_exaggeration_iter=exaggerated, random_state=seed,
                negative_gradient_method=gradient, n_jobs=-1,
                ints_in_interval=FFT_INTS_IN_INTERVAL,
                callbacks=_tsne_reporter(total, exaggerated, progress, stage=stage),
                callbacks_every_iters=25, verbose=False)
    return tsne, {"gradient": gradient, "threads": os.cpu_count() or 1}


def _tsne_reporter(total: int, exaggerated: int, progress: Optional[ProgressCallback],
                   stage: str):
    """An openTSNE callback reporting iterations over both phases (openTSNE restarts its
    count after early exaggeration); it never stops the run itself, but a progress callback
    raising CancelledError does."""
    state = {"phase_offset": 0, "last": 0}

    def report(iteration: int, error: float, embedding) -> bool:
        if iteration < state["last"]:  # the second phase began
            state["phase_offset"] = exaggerated
        state["last"] = iteration
        done = state["phase_offset"] + iteration
        if progress is not None:
            progress(Progress(stage, min(done, total), total, message=f"KL {error:.3f}"))
        return False

    return report


def tsne_affinities(*, tv: TransferValues, perplexity: float, pca_dims: int | None,
                    cache_dir: str | Path | None = None,
                    progress: Optional[ProgressCallback] = None):
    """openTSNE affinities (the symmetric P matrix) from the shared kNN graph, cached per
    (kNN graph, k, perplexity): a rerun with another seed or iteration count reuses them.
    Returns (openTSNE Affinities, k)."""
    from openTSNE.affinity import Affinities, PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors
    from scipy.sparse import csr_matrix

    from core.analysis.neighbors import knn_graph

    # openTSNE's own rule: 3 × perplexity neighbours; the perplexity shrinks if N is small
    k = min(tv.n - 1, int(3 * perplexity))
    effective = min(float(perplexity), (tv.n - 1) / 3)
    graph = knn_graph(tv=tv, n_neighbors=k, pca_dims=pca_dims, cache_dir=cache_dir,
                      progress=progress)
    fields = {"knn": graph.key, "k": k, "perplexity": effective, "version": AFFINITY_VERSION}
    key = hash_key(fields)

    def compute():
        if progress is not None:
            progress(Progress("t-SNE affinities", 0, 1))
        P = PerplexityBasedNN(
            perplexity=effective, n_jobs=-1,
            knn_index=PrecomputedNeighbors(np.asarray(graph.indices_),
                                           np.asarray(graph.distances_))).P.tocsr()
        return ({"data": P.data, "indices": P.indices.astype(np.int32),
                 "indptr": P.indptr.astype(np.int64)}, {"key_fields": fields})

    entry, _ = ArrayCache(kind=AFFINITY_KIND, root=cache_dir).load_or_compute(key, compute)
    affinities = Affinities()
    # copies: openTSNE's kernels want writable, contiguous arrays, not read-only mmaps
    affinities.P = csr_matrix((np.array(entry["data"]), np.array(entry["indices"]),
                               np.array(entry["indptr"])), shape=(tv.n, tv.n))
    return affinities, k


def tsne_gradient_method(*, n: int, dims: int) -> str:
    """Barnes-Hut below FFT_ABOVE points and in 3-D (openTSNE's FFT interpolation is 1-/2-D
    only); FFT above."""
    return "fft" if dims <= 2 and n >= FFT_ABOVE else "bh"


# --- UMAP ---

_import_lock = threading.Lock()
_warm_up_lock = threading.Lock()
_warm_up_thread: Optional[threading.Thread] = None
_warm_up_state: dict[str, Any] = {"state": "idle", "seconds": None, "error": None}


def import_umap_class():
    """umap.UMAP without importing TensorFlow (umap's package import pulls in ParametricUMAP)."""
    with _import_lock:
        module = sys.modules.get("umap.umap_")
        if module is None:
            # A None entry makes `from .parametric_umap import ...` raise ImportError, which
            # umap's __init__ catches (it then offers a stub ParametricUMAP). Removed after,
            # so an explicit `import umap.parametric_umap` later still works.
            block = "umap.parametric_umap" not in sys.modules
            if block:
                sys.modules["umap.parametric_umap"] = None  # type: ignore[assignment]
            try:
                import umap.umap_ as module
            finally:
                if block and sys.modules.get("umap.parametric_umap", 0) is None:
                    del sys.modules["umap.parametric_umap"]
            _cache_compiled_kernels()
        return module.UMAP


# umap-learn's numba kernels that a seeded fit on a precomputed kNN graph compiles; umap-learn
# keeps only `rdist` in numba's disk cache. Kept there too, a new server process loads them
# instead of compiling them again (5.7 of the warm-up's 7.8 CPU seconds, measured under load).
# Not the parallel layout kernel: it shares its Python function with the serial one, and
# numba's cache index does not tell their compile options apart.
# (umap.utils' tau_rand_int has its signature given, so it compiles as umap is imported)
CACHED_KERNELS = {"umap.layouts": ("clip", "_nb_optimize_layout_euclidean_single_epoch"),
                  "umap.umap_": ("smooth_knn_dist", "compute_membership_strengths")}


def _cache_compiled_kernels() -> None:
    for module_name, names in CACHED_KERNELS.items():
        module = sys.modules.get(module_name)
        for name in names:
            kernel = getattr(module, name, None)
            # only before its first compilation, which then looks in the cache first
            if callable(getattr(kernel, "enable_caching", None)) and not kernel.signatures:
                kernel.enable_caching()


def _warm_up() -> None:
    started = time.perf_counter()
    _warm_up_state["state"] = "running"
    try:
        from core.analysis.neighbors import KNNGraph

        UMAP = import_umap_class()
        X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
        graph = KNNGraph(n_neighbors=7).fit(X)
        indices, distances = graph.with_self()
        # the same code path as a real fit (seeded → single-threaded kernels, precomputed kNN)
        UMAP(n_neighbors=8, n_components=2, random_state=0, n_epochs=20,
             precomputed_knn=(indices, distances, None)).fit_transform(X)
        _warm_up_state["state"] = "done"
    except Exception as error:  # a failed warm-up only means the real fit compiles instead
        _warm_up_state.update(state="failed", error=f"{type(error).__name__}: {error}")
    finally:
        _warm_up_state["seconds"] = round(time.perf_counter() - started, 2)


def warm_up_umap_in_background() -> threading.Thread:
    """Import umap and compile its numba kernels in a daemon thread, once per process."""
    global _warm_up_thread
    with _warm_up_lock:
        if _warm_up_thread is None:
            _warm_up_thread = threading.Thread(target=_warm_up, name="umap-warm-up", daemon=True)
            _warm_up_thread.start()
        return _warm_up_thread


def umap_warm_up_status() -> dict[str, Any]:
    """{"state": idle|running|done|failed, "seconds", "error"} for a status line."""
    return dict(_warm_up_state)


def _wait_for_warm_up(progress: Optional[ProgressCallback]) -> None:
    thread = warm_up_umap_in_background()
    started = time.perf_counter()
    while thread.is_alive():
        if progress is not None:
            waited = time.perf_counter() - started
            progress(Progress("UMAP", 0, 1, message=f"compiling numba kernels (once per "
                                                   f"process), {waited:.0f}s"))
        thread.join(timeout=0.5)


def _run_umap(*, tv, dims, params, seed, cache_dir, progress):
    from core.analysis.neighbors import knn_graph
    from core.analysis.reduction import reduced_values

    warm_up_umap_in_background()  # compiles while the kNN graph is built
    X = reduced_values(tv=tv, pca_dims=params["pca_dims"], cache_dir=cache_dir, progress=progress)
    k = min(params["n_neighbors"], tv.n) - 1  # UMAP counts the point itself
    graph = knn_graph(tv=tv, n_neighbors=k, metric=params["metric"],
                      pca_dims=params["pca_dims"], cache_dir=cache_dir, progress=progress)
    indices, distances = graph.with_self()
    _wait_for_warm_up(progress)
    if progress is not None:
        progress(Progress("UMAP", 0, 1, message="optimising the layout"))
    UMAP = import_umap_class()
    reducer = UMAP(n_components=dims, n_neighbors=k + 1, min_dist=params["min_dist"],
                   metric=params["metric"], random_state=seed,
                   precomputed_knn=(np.ascontiguousarray(indices), np.ascontiguousarray(distances),
                                    None))
    with warnings.catch_warnings():  # the module-level filters may be reset by a caller
        _silence_umap_notices()
        coords = reducer.fit_transform(X)
    if progress is not None:
        progress(Progress("UMAP", 1, 1))
    return {"coords": np.asarray(coords, dtype=np.float32)}, {"knn_neighbors": k}


# --- landmark maps (t-SNE and UMAP above LANDMARKS_ABOVE points) ---

def _run_landmarks(*, tv, method, dims, params, seed, landmarks, cache_dir, progress):
    """Fit the map on a seeded sample, then place every other point into it with the
    library's own `transform` (openTSNE's `TSNEEmbedding.transform`, umap-learn's
    `UMAP.transform`), a chunk at a time so progress and ETA are reported between chunks.
    The landmarks get their own neighbour index (the library's), since `transform` must
    query it for the new points; the shared kNN graph of all points is not needed."""
    from core.analysis.reduction import reduced_values
    from core.base.progress import ProgressTracker

    X = reduced_values(tv=tv, pca_dims=params["pca_dims"], cache_dir=cache_dir, progress=progress)
    fitted = landmark_sample(n=tv.n, count=landmarks, seed=seed)
    rest = np.setdiff1d(np.arange(tv.n), fitted, assume_unique=True)
    label = "t-SNE" if method == "tsne" else "UMAP"
    fit_started = time.perf_counter()
    model, details = (_fit_tsne_landmarks if method == "tsne" else _fit_umap_landmarks)(
        X=np.ascontiguousarray(X[fitted]), dims=dims, params=params, seed=seed,
        progress=progress)
    fit_seconds = time.perf_counter() - fit_started
    coords = np.empty((tv.n, dims), dtype=np.float32)
    tracker = ProgressTracker(stage=f"{label}: placing {len(rest):,} points into the map of "
                                    f"{landmarks:,}", total=len(rest), callback=progress)
    tracker.update(0)
    for start in range(0, len(rest), PLACE_CHUNK):
        chunk = rest[start:start + PLACE_CHUNK]
        coords[chunk] = np.asarray(model.transform(np.ascontiguousarray(X[chunk])), np.float32)
        tracker.update(start + len(chunk))
    # read after the transforms: openTSNE's `transform` re-centres the fitted map in place
    coords[fitted] = np.asarray(model if method == "tsne" else model.embedding_, np.float32)
    return ({"coords": coords, "fitted": fitted},
            {**details, "landmarks": int(landmarks), "placed": int(len(rest)),
             "fit_seconds": round(fit_seconds, 3),
             "place_seconds": round(time.perf_counter() - fit_started - fit_seconds, 3)})


def _fit_tsne_landmarks(*, X, dims, params, seed, progress):
    from openTSNE.affinity import PerplexityBasedNN

    n = len(X)
    if progress is not None:
        progress(Progress("t-SNE affinities of the landmarks", 0, 1))
    # openTSNE's own neighbour index (Annoy): `transform` queries it for the placed points
    affinities = PerplexityBasedNN(X, perplexity=min(params["perplexity"], (n - 1) / 3),
                                   method="annoy", n_jobs=-1, random_state=seed)
    tsne, engine = _tsne_estimator(n=n, dims=dims, params=params, seed=seed, progress=progress,
                                   stage=f"t-SNE of {n:,} landmarks")
    embedding = tsne.fit(X, affinities=affinities, initialization="pca")
    return embedding, {**engine, "kl_divergence": float(embedding.kl_divergence)}


def _fit_umap_landmarks(*, X, dims, params, seed, progress):
    _wait_for_warm_up(progress)
    if progress is not None:
        progress(Progress(f"UMAP of {len(X):,} landmarks", 0, 1,
                          message="neighbour index and layout"))
    UMAP = import_umap_class()
    # no precomputed kNN here: UMAP keeps its own search index, which `transform` needs
    reducer = UMAP(n_components=dims, n_neighbors=min(params["n_neighbors"], len(X) - 1),
                   min_dist=params["min_dist"], metric=params["metric"], random_state=seed)
    with warnings.catch_warnings():
        _silence_umap_notices()
        reducer.fit(X)
    if progress is not None:
        progress(Progress(f"UMAP of {len(X):,} landmarks", 1, 1))
    return reducer, {}
