"""PCA reductions: the chunked covariance solver for large matrices agrees with scikit-learn."""

import numpy as np
import pytest

import core.analysis.reduction as reduction
from core.analysis.reduction import pca_reduce
from core.features.feature_sets import from_arrays


@pytest.fixture
def values():
    rng = np.random.default_rng(0)
    # correlated columns with distinct variances, so the components are well separated
    mixing = rng.normal(size=(40, 40)) * np.linspace(3, 0.1, 40)[:, None]
    return (rng.normal(size=(3000, 40)) @ mixing + 5).astype(np.float32)


def test_covariance_pca_matches_full_pca(values, isolated_cache, monkeypatch):
    monkeypatch.setattr(reduction, "CHUNK_ROWS", 700)  # several chunks and a short last one
    tv = from_arrays(values=values, labels=np.zeros(len(values), int), name="pca-check")
    full = pca_reduce(tv=tv, dims=5, solver="full")
    cov = pca_reduce(tv=tv, dims=5, solver="covariance")
    assert cov.key != full.key
    np.testing.assert_allclose(cov.components, full.components, atol=1e-4)
    np.testing.assert_allclose(cov.coords, full.coords, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(cov.explained_variance_ratio, full.explained_variance_ratio,
                               rtol=1e-4)
    np.testing.assert_allclose(cov.mean, values.mean(axis=0), rtol=1e-5, atol=1e-5)


def test_auto_uses_the_covariance_above_the_size_limit_and_reads_a_memory_map(values, tmp_path,
                                                                               isolated_cache,
                                                                               monkeypatch):
    path = tmp_path / "values.npy"
    np.save(path, values)
    mapped = np.load(path, mmap_mode="r")
    assert reduction.resolve_solver("auto", *values.shape) == "full"  # 3,000 rows, 480 KB
    monkeypatch.setattr(reduction, "COVARIANCE_ABOVE_BYTES", values.nbytes - 1)
    assert reduction.resolve_solver("auto", *values.shape) == "covariance"
    assert reduction.resolve_solver("auto", 10**6, 25_088) == "randomized"  # D² too large
    progress = []
    direct = reduction._fit_pca_by_covariance(values, 3)
    streamed = reduction._fit_pca_by_covariance(mapped, 3, progress=progress.append)
    for name in direct:  # dropping pages after each chunk changes nothing read
        np.testing.assert_array_equal(direct[name], streamed[name])
    assert progress[-1].done == progress[-1].total == 3 * len(values)
    np.testing.assert_array_equal(mapped, values)  # the map still reads the file


def test_an_unknown_solver_is_an_error():
    with pytest.raises(ValueError, match="covariance"):
        reduction.resolve_solver("lanczos", 10, 10)
