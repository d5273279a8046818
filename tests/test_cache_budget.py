"""The public cache budget (issue 27): what public visitors add to the cache is kept under
PublicPolicy.max_public_cache_bytes, least recently used first out, never the operator's
entries, never one in use (recently used or locked)."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pytest

from core.base import public as public_module
from core.base.cache import ArrayCache
from core.base.cache_budget import PUBLIC_MARK, enforce_public_budget, marked_entries
from core.base.public import policy

MB = 1_000_000


def go_public(monkeypatch) -> None:
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    rules = dataclasses.replace(policy(), max_public_cache_bytes=int(2.5 * MB))
    monkeypatch.setattr(public_module, "policy", lambda: rules)


@pytest.fixture
def public(monkeypatch):
    go_public(monkeypatch)


def save(cache: ArrayCache, key: str) -> None:
    cache.save(key, arrays={"values": np.zeros(MB // 8, np.float64)}, manifest={})


def used_at(cache: ArrayCache, key: str, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(cache.entry_path(key) / PUBLIC_MARK, (when, when))


def test_the_stated_budget():
    assert policy().max_public_cache_bytes == 2_000_000_000
    assert policy().max_public_cache_entries == 2_000


def test_public_entries_beyond_the_budget_go_least_recently_used_first(public, isolated_cache):
    cache = ArrayCache(kind="projections")
    for i, key in enumerate(("a", "b")):
        save(cache, key)
        used_at(cache, key, 3_600 - i)  # an hour ago: not in use
    assert cache.load("a") is not None  # a visitor opens "a" again: now the most recent
    used_at(cache, "a", 1_000)
    save(cache, "c")  # 3 MB > 2.5 MB: the least recently used public entry goes
    assert cache.keys() == ["a", "c"]
    assert [e.path.name for e in marked_entries(isolated_cache)] == ["a", "c"]


def test_the_operators_entries_are_never_evicted(isolated_cache, monkeypatch):
    cache = ArrayCache(kind="transfer_values")
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)  # the operator precomputes
    save(cache, "operator1")
    save(cache, "operator2")
    go_public(monkeypatch)
    for key in ("v1", "v2", "v3"):
        save(cache, key)
        used_at(cache, key, 3_600)
    assert not (cache.entry_path("operator1") / PUBLIC_MARK).exists()
    assert {"operator1", "operator2"} <= set(cache.keys())  # 5 MB in all, theirs stay
    assert len(marked_entries(isolated_cache)) == 2  # public ones fit 2.5 MB (the newest kept)


def test_entries_in_use_stay_over_the_budget(public, isolated_cache):
    cache = ArrayCache(kind="projections")
    for key in ("a", "b", "c", "d"):
        save(cache, key)  # each used just now
    assert cache.keys() == ["a", "b", "c", "d"]  # all in use: nothing evicted yet
    for key in ("a", "b", "c", "d"):
        used_at(cache, key, 3_600)
    with cache.lock("a"):  # a writer holds "a"
        removed = enforce_public_budget(isolated_cache, budget=int(2.5 * MB))
    assert sorted(p.name for p in removed) == ["b", "c"]
    assert cache.keys() == ["a", "d"]


def test_many_tiny_public_entries_are_bounded_in_number(isolated_cache, monkeypatch):
    """Class activation maps add a tiny entry per gallery page: far under the byte budget,
    but every public write walks every entry, so their number is bounded too (issue 27,
    redteam: 20,000 such entries made each public write take 18 s under load)."""
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    rules = dataclasses.replace(policy(), max_public_cache_entries=3)
    monkeypatch.setattr(public_module, "policy", lambda: rules)
    cache = ArrayCache(kind="cam")
    for age, key in enumerate("abcd"):
        cache.save(key, arrays={"grid": np.zeros(4)}, manifest={})
        used_at(cache, key, 3_600 - age)  # "a" least recently used
    cache.save("e", arrays={"grid": np.zeros(4)}, manifest={})  # in use: it stays
    assert cache.keys() == ["c", "d", "e"]


def test_locally_nothing_is_marked_or_evicted(isolated_cache, monkeypatch):
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)
    cache = ArrayCache(kind="projections")
    for key in "abcd":
        save(cache, key)
    assert cache.keys() == list("abcd") and marked_entries(isolated_cache) == []


def test_a_head_trained_by_a_visitor_is_marked(public, isolated_cache):
    from core.features.feature_sets import from_arrays
    from core.heads import train_head

    rng = np.random.default_rng(0)
    tv = from_arrays(values=rng.standard_normal((300, 8)).astype(np.float32),
                     labels=rng.integers(0, 2, 300))
    head = train_head(tv=tv, head="logreg")
    marked = [e.path.name for e in marked_entries(isolated_cache)]
    assert head.key in marked


def test_a_stopped_public_extraction_leaves_counted_work(public, isolated_cache):
    from core.base.errors import CancelledError

    cache = ArrayCache(kind="transfer_values")

    def stopped():
        work = cache.work_path("big")
        work.mkdir(parents=True)
        np.save(work / "chunk_000000.npy", np.zeros(MB // 8, np.float64))
        raise CancelledError("stopped at the time limit")

    with pytest.raises(CancelledError):
        cache.load_or_compute("big", stopped)
    marked = marked_entries(isolated_cache)
    assert [e.path.name for e in marked] == ["big.partial"] and marked[0].bytes > MB
    os.utime(cache.work_path("big") / PUBLIC_MARK, (time.time() - 3_600,) * 2)
    for key in ("a", "b"):
        save(cache, key)  # 3 MB with the stale work: the work goes first
    assert not cache.work_path("big").exists() and cache.keys() == ["a", "b"]
