"""Projections and the shared kNN graph: deterministic with a seed, cached, computed once."""

import subprocess
import sys

import numpy as np
import pytest

from core.base.cache import ArrayCache
from core.analysis.neighbors import KNNGraph, knn_graph, nearest_neighbors
from core.analysis.projections import (compute_projection, default_params, umap_warm_up_status,
                              warm_up_umap_in_background)
from tests.support.data import digits_pixels_subset

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def umap_compiling_meanwhile():
    """Start numba's one-off UMAP compile now, so it overlaps the PCA and t-SNE tests."""
    warm_up_umap_in_background()


@pytest.fixture
def tv(isolated_cache):
    return digits_pixels_subset(n=300)


def test_pca_2d_3d_cached(tv):
    two = compute_projection(tv=tv, method="pca", dims=2)
    three = compute_projection(tv=tv, method="pca", dims=3)
    assert two.cache == three.cache == "miss"
    assert two.coords.shape == (300, 2) and three.coords.shape == (300, 3)
    assert two.coords.dtype == np.float32
    ratios = three.explained_variance
    assert len(ratios) == 3 and np.all(np.diff(ratios) <= 0) and 0 < ratios.sum() < 1
    np.testing.assert_allclose(two.coords, three.coords[:, :2], rtol=1e-4, atol=1e-4)
    again = compute_projection(tv=tv, method="pca", dims=2)
    assert again.cache == "hit" and again.key == two.key
    np.testing.assert_array_equal(again.coords, two.coords)


@pytest.mark.parametrize("method,params", [
    ("tsne", {"perplexity": 20, "n_iter": 300}),
    ("umap", {"n_neighbors": 10}),
])
def test_seeded_projection_is_deterministic_and_cached(tv, tmp_path, method, params):
    first = compute_projection(tv=tv, method=method, params=params, seed=3)
    assert first.cache == "miss" and first.coords.shape == (300, 2)
    assert np.isfinite(first.coords).all() and first.coords.std() > 0
    assert first.params == {**default_params(method), **params}
    hit = compute_projection(tv=tv, method=method, params=params, seed=3)
    assert hit.cache == "hit"
    np.testing.assert_array_equal(hit.coords, first.coords)
    # recomputed from scratch in another cache: the same coordinates
    fresh = compute_projection(tv=tv, method=method, params=params, seed=3,
                               cache_dir=tmp_path / "other")
    assert fresh.cache == "miss"
    np.testing.assert_array_equal(fresh.coords, first.coords)
    other_seed = compute_projection(tv=tv, method=method, params=params, seed=4)
    assert other_seed.key != first.key and not np.array_equal(other_seed.coords, first.coords)


def test_umap_3d_reports_progress(tv):
    seen = []
    projection = compute_projection(tv=tv, method="umap", dims=3, params={"metric": "cosine"},
                                    progress=seen.append)
    assert projection.coords.shape == (300, 3)
    assert seen and seen[-1].stage == "UMAP" and seen[-1].done == seen[-1].total
    assert umap_warm_up_status()["state"] == "done"


def test_tsne_and_umap_share_one_knn_graph(tv, isolated_cache):
    compute_projection(tv=tv, method="tsne", params={"n_iter": 260})
    compute_projection(tv=tv, method="umap")
    graph = knn_graph(tv=tv, n_neighbors=10)
    assert graph.cache == "hit"
    assert len(ArrayCache(kind="knn").keys()) == 1  # k=90 graph sliced for k=14 and k=10


def test_unknown_parameter_is_an_error(tv):
    with pytest.raises(ValueError, match="perplexty"):
        compute_projection(tv=tv, method="tsne", params={"perplexty": 5})


def test_knn_graph_matches_brute_force_and_slices(tv):
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(tv.values, np.float32)
    graph = KNNGraph(n_neighbors=6).fit(X)
    dist, idx = NearestNeighbors(n_neighbors=7).fit(X).kneighbors(X)
    assert graph.indices_.shape == (300, 6)
    assert not np.any(graph.indices_ == np.arange(300)[:, None])  # self excluded
    np.testing.assert_allclose(graph.distances_, dist[:, 1:], rtol=1e-4, atol=1e-4)
    small = KNNGraph(n_neighbors=3).fit(X)
    np.testing.assert_array_equal(graph.subgraph(3).indices_, small.indices_)
    with_self, _ = graph.with_self()
    assert np.array_equal(with_self[:, 0], np.arange(300)) and with_self.shape == (300, 7)


def test_knn_graph_drops_self_among_duplicates():
    X = np.array([[0, 0], [0, 0], [0, 0], [5, 5]], np.float32)
    graph = KNNGraph(n_neighbors=2).fit(X)
    for row in range(4):
        assert row not in graph.indices_[row]


def test_nearest_neighbors_lookup(tv):
    pairs = nearest_neighbors(tv=tv, index=5, k=4, pca_dims=None)
    assert len(pairs) == 4 and all(i != 5 for i, _ in pairs)
    distances = [d for _, d in pairs]
    assert distances == sorted(distances)
    X = np.asarray(tv.values, np.float32)
    assert distances[0] == pytest.approx(float(np.linalg.norm(X[pairs[0][0]] - X[5])), rel=1e-4)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_a_lookup_above_the_graph_limit_matches_the_graph_without_building_it(tv, monkeypatch,
                                                                              metric):
    import core.analysis.neighbors as neighbors

    from_graph = nearest_neighbors(tv=tv, index=7, k=6, metric=metric)
    built = ArrayCache(kind="knn").keys()
    monkeypatch.setattr(neighbors, "GRAPH_FOR_LOOKUPS_UP_TO", 100)
    one_row = nearest_neighbors(tv=tv, index=7, k=6, metric=metric)
    assert [i for i, _ in one_row] == [i for i, _ in from_graph]
    np.testing.assert_allclose([d for _, d in one_row], [d for _, d in from_graph], rtol=1e-4,
                               atol=1e-6)
    assert ArrayCache(kind="knn").keys() == built  # nothing new was built


def test_importing_umap_does_not_import_tensorflow():
    code = ("import sys; from core.analysis.projections import import_umap_class; import_umap_class(); "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("stage", ["-NN graph", "t-SNE"])
def test_a_progress_callback_stops_tsne_and_nothing_half_done_is_cached(tv, stage):
    from core.base.errors import CancelledError

    def stop_at(progress):
        if stage in progress.stage:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        compute_projection(tv=tv, method="tsne", params={"n_iter": 260}, progress=stop_at)
    assert ArrayCache(kind="projections").keys() == []


def test_tsne_affinities_are_shared_by_reruns_with_another_seed(tv):
    compute_projection(tv=tv, method="tsne", params={"n_iter": 260}, seed=0)
    compute_projection(tv=tv, method="tsne", params={"n_iter": 300}, seed=1)
    assert len(ArrayCache(kind="tsne_affinities").keys()) == 1
    compute_projection(tv=tv, method="tsne", params={"n_iter": 260, "perplexity": 10})
    assert len(ArrayCache(kind="tsne_affinities").keys()) == 2


def _placed_class_accuracy(projection, labels) -> float:
    """How often a placed point's nearest fitted point on the map has its class."""
    from sklearn.neighbors import KNeighborsClassifier

    fitted = projection.fitted
    placed = np.setdiff1d(np.arange(len(labels)), fitted)
    coords = np.asarray(projection.coords)
    knn = KNeighborsClassifier(n_neighbors=1).fit(coords[fitted], labels[fitted])
    return float(knn.score(coords[placed], labels[placed]))


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_landmark_map_fits_a_sample_and_places_the_rest(tv, monkeypatch, method):
    import core.analysis.projections as projections

    monkeypatch.setattr(projections, "PLACE_CHUNK", 64)  # several chunks: progress between
    seen = []
    params = {"landmarks": 120, **({"n_iter": 300} if method == "tsne" else {})}
    projection = compute_projection(tv=tv, method=method, params=params, seed=2,
                                    progress=seen.append)
    assert projection.coords.shape == (300, 2) and np.isfinite(projection.coords).all()
    assert len(projection.fitted) == 120 and projection.placed == 180
    assert np.all(np.diff(projection.fitted) > 0)
    assert projection.details["landmarks"] == 120 and projection.details["placed"] == 180
    placing = [p for p in seen if "placing" in p.stage]
    assert [p.done for p in placing] == [0, 64, 128, 180] and placing[-1].total == 180
    assert placing[-1].eta_seconds == 0
    # placed points land among their own class: chance is 0.1, a misplaced chunk (wrong
    # rows, wrong order) scores near it; measured 0.77 (UMAP) on 120 landmarks
    assert _placed_class_accuracy(projection, np.asarray(tv.labels)) > 0.6
    hit = compute_projection(tv=tv, method=method, params=params, seed=2)
    assert hit.cache == "hit"
    np.testing.assert_array_equal(hit.fitted, projection.fitted)
    whole = compute_projection(tv=tv, method=method, params={**params, "landmarks": 0}, seed=2)
    assert whole.fitted is None and whole.placed == 0 and whole.key != projection.key


def test_landmarks_auto_switch_on_above_the_threshold(tv, monkeypatch):
    import core.analysis.projections as projections

    plain = compute_projection(tv=tv, method="umap", seed=5)
    assert plain.fitted is None
    monkeypatch.setattr(projections, "LANDMARKS_ABOVE", 250)
    monkeypatch.setattr(projections, "LANDMARK_SAMPLE", 100)
    above = compute_projection(tv=tv, method="umap", seed=5)
    assert above.cache == "miss" and len(above.fitted) == 100 and above.placed == 200
    assert above.params["landmarks"] == "auto"


@pytest.mark.parametrize("bad", [-1, 2.5, "many", True])
def test_a_bad_landmark_count_is_an_error(tv, bad):
    with pytest.raises(ValueError, match="landmarks"):
        compute_projection(tv=tv, method="tsne", params={"landmarks": bad})


def test_tsne_runs_on_every_core_and_switches_to_fft_at_the_measured_size(tv, monkeypatch):
    import os

    import core.analysis.projections as projections

    bh = compute_projection(tv=tv, method="tsne", params={"n_iter": 200})
    assert bh.details["gradient"] == "bh" and bh.details["threads"] == (os.cpu_count() or 1)
    monkeypatch.setattr(projections, "FFT_ABOVE", 300)
    fft = compute_projection(tv=tv, method="tsne", params={"n_iter": 200}, seed=1)
    assert fft.details["gradient"] == "fft" and np.isfinite(fft.coords).all()
    assert projections.tsne_gradient_method(n=10**6, dims=3) == "bh"  # FFT is 1-/2-D only


def test_tsne_progress_counts_both_phases_once(tv):
    seen = []
    compute_projection(tv=tv, method="tsne", params={"n_iter": 200, "exaggeration_iter": 60},
                       progress=seen.append)
    done = [p.done for p in seen if p.stage == "t-SNE"]
    # openTSNE restarts its count after the exaggerated phase; ours keeps rising to the total
    assert done == sorted(done) and 175 <= done[-1] <= 200  # reports come every 25
    assert 85 in done  # 60 exaggerated + 25: the second phase is offset, not restarted


@pytest.mark.parametrize("params", [{"n_iter": 100, "exaggeration_iter": 100},
                                    {"exaggeration_iter": -1}])
def test_tsne_needs_more_iterations_than_exaggerated_ones(tv, params):
    with pytest.raises(ValueError, match="early-exaggeration"):
        compute_projection(tv=tv, method="tsne", params=params)


def test_the_exaggerated_iterations_are_part_of_the_cache_key(tv):
    a = compute_projection(tv=tv, method="tsne", params={"n_iter": 200})
    b = compute_projection(tv=tv, method="tsne", params={"n_iter": 200, "exaggeration_iter": 50})
    assert b.cache == "miss" and a.key != b.key
    assert default_params("tsne")["exaggeration_iter"] < default_params("tsne")["n_iter"]
