"""A map selection in the link (core.analysis.selection_link) and the server-side store of
selections a link cannot hold (core.analysis.selection_store), hostile values included."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from core.analysis import selection_link as link
from core.analysis.selection import select_points
from core.analysis.selection_store import (MAX_ENTRIES, load_selection, save_selection,
                                           selections_folder)
from core.base.errors import ParameterError
from core.base.public import PUBLIC_ENV, PublicModeError


def test_shapes_round_trip_and_select_the_same_points() -> None:
    rng = np.random.default_rng(0)
    grid = rng.integers(0, link.GRID_STEPS + 1, size=(5000, 2)).astype(float)
    box = {"x": [40000.4, 1200.6], "y": [5000.0, 30000.2]}  # corners in any order
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    lasso = {"x": list(30000 + 20000 * np.cos(t)), "y": list(30000 + 9000 * np.sin(3 * t))}
    text = link.shapes_link(boxes=[box], lassos=[lasso])
    assert text.startswith("box:1201,40000,5000,30000~lasso:50000,30000,")
    back = link.parse_link(text)
    assert back.drawn == "lasso" and back.stored is None
    rounded_box = {"x": [1201, 40000], "y": [5000, 30000]}
    rounded_lasso = {"x": [round(v) for v in lasso["x"]], "y": [round(v) for v in lasso["y"]]}
    np.testing.assert_array_equal(
        select_points(grid, boxes=back.boxes, lassos=back.lassos),
        select_points(grid, boxes=[rounded_box], lassos=[rounded_lasso]))
    assert link.parse_link(link.ids_link("0123456789abcdef0123")).stored == \
        "0123456789abcdef0123"


def test_a_drag_repeating_positions_and_too_long_a_lasso() -> None:
    same = {"x": [1, 1, 5, 5, 9, 1], "y": [2, 2, 8, 8, 2, 2]}  # repeats, closed on itself
    assert link.shapes_link(lassos=[same]) == "lasso:1,2,5,8,9,2"
    assert link.shapes_link() is None
    assert link.shapes_link(boxes=[{"x": [float("nan"), 1], "y": [0, 1]}]) is None
    assert link.shapes_link(boxes=[{"x": [0.2, 0.8], "y": [0, 1]}]) is None  # no grid point
    t = np.linspace(0, 2 * np.pi, 400)  # 400 distinct vertices: over MAX_LINK_CHARS
    long = {"x": list(30000 + 20000 * np.cos(t)), "y": list(30000 + 20000 * np.sin(t))}
    assert link.shapes_link(lassos=[long]) is None
    assert link.shapes_link(boxes=[{"x": [0, 1], "y": [0, 1]}] * (link.MAX_SHAPES + 1)) is None


@pytest.mark.parametrize("value, says", [
    ("", "empty"),
    ("box:1,2,3", "box:x0,x1,y0,y1"),
    ("box:1,2,3,70000", "past the map's grid"),
    ("box:-1,2,3,4", "whole numbers"),
    ("box:1e3,2,3,4", "whole numbers"),
    ("box:nan,2,3,4", "whole numbers"),
    ("lasso:1,2,3,4", "3 to"),
    ("lasso:1,2,3,4,5", "3 to"),
    ("circle:1,2,3", "no shape"),
    ("ids:../../etc/passwd", "20 hex digits"),
    ("ids:0123456789ABCDEF0123", "20 hex digits"),
    ("box:1,2,3,4~" * 9 + "box:1,2,3,4", "shapes, over"),
    ("lasso:" + ",".join(["1"] * 2000), "over 1,500"),
    ("<script>alert(1)</script>", "no shape"),
    # ASCII digits only: str.isdigit() also takes ² (float() refuses it: an unexpected error)
    ("box:²,2,3,4", "whole numbers"),
    ("lasso:١,2,3,4,5,6", "whole numbers"),
    # the page shows the message as markdown: a crafted shape name is not repeated in it
    ("[a](https://evil.example):1", "^that is no shape"),
])
def test_hostile_link_values_are_refused_naming_the_fix(value, says) -> None:
    with pytest.raises(ParameterError, match=says):
        link.parse_link(value)


def test_a_zoom_goes_on_grid_lines_outwards_and_back() -> None:
    """The density map's zoom (`zoom=`): a drawn region rounded outwards to the grid, so the
    link's picture holds all the session's; hostile values are refused naming the form."""
    region = ((60000.6, 5000.4), (-3.0, 70000.0))  # ends in any order, past the grid
    assert link.grid_region(region) == ((5000.0, 60001.0), (0.0, float(link.GRID_STEPS)))
    text = link.zoom_link(region)
    assert text == f"5000,60001,0,{link.GRID_STEPS}"
    assert link.parse_zoom(text) == link.grid_region(region)
    assert link.zoom_link(None) is None
    assert link.grid_region(((7.0, 7.0), (1.0, 2.0))) is None  # no area
    assert link.grid_region(((float("nan"), 1.0), (1.0, 2.0))) is None
    for value, says in (("1,2,3", "x0,x1,y0,y1, got 3"), ("2,1,3,4", "x0 below x1"),
                        ("1,2,3,70000", "past the map's grid"), ("1,2,-3,4", "whole numbers"),
                        ("1,2,3,4" * 9, "x0,x1,y0,y1 on the map's grid"),
                        ("<b>1</b>,2,3,4", "whole numbers")):
        with pytest.raises(ParameterError, match=says):
            link.parse_zoom(value)


def test_store_round_trip_is_keyed_by_content_and_bounded(tv) -> None:
    rows = np.array([5, 3, 900, 3])
    key = save_selection(tv=tv, rows=rows)
    assert save_selection(tv=tv, rows=[900, 5, 3]) == key  # the same ids: the same key
    assert save_selection(tv=tv, rows=[5, 3]) != key
    stored = load_selection(tv=tv, key=key)
    assert stored.rows.tolist() == [3, 5, 900] and stored.missing == 0
    assert load_selection(tv=tv, key="f" * 20) is None  # unknown: no entry
    with pytest.raises(ParameterError, match="1 to"):
        save_selection(tv=tv, rows=[])
    with pytest.raises(ParameterError, match="rows run from 0"):
        save_selection(tv=tv, rows=[tv.n])
    with pytest.raises(ParameterError, match="20 hex"):
        load_selection(tv=tv, key="../" + key)

    # a smaller subset of the dataset: the ids it holds, and how many it does not
    from tests.support.data import digits_pixels_subset

    subset = digits_pixels_subset(n=400)
    inside = np.flatnonzero(np.isin(tv.sample_ids, subset.sample_ids))[:3]
    key = save_selection(tv=tv, rows=[*inside, int(np.flatnonzero(
        ~np.isin(tv.sample_ids, subset.sample_ids))[0])])
    with pytest.raises(ParameterError, match="another dataset"):  # subset: its own fingerprint
        load_selection(tv=subset, key=key)


def test_damaged_or_oversized_entries_are_refused(tv, monkeypatch) -> None:
    from core.analysis import selection_store

    key = save_selection(tv=tv, rows=[1, 2])
    path = selections_folder() / f"{key}.json.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(ParameterError, match="damaged"):
        load_selection(tv=tv, key=key)
    path.write_bytes(gzip.compress(json.dumps({"format": "x", "ids": [1]}).encode()))
    with pytest.raises(ParameterError, match="damaged"):
        load_selection(tv=tv, key=key)
    # a gzip bomb: small on disk, huge unpacked
    monkeypatch.setattr(selection_store, "MAX_JSON_BYTES", 1000)
    path.write_bytes(gzip.compress(b"[" + b"0," * 100_000 + b"0]"))
    with pytest.raises(ParameterError, match="unpacked"):
        load_selection(tv=tv, key=key)


def test_count_bound_drops_the_least_recently_used(tv, monkeypatch) -> None:
    import os

    from core.analysis import selection_store

    monkeypatch.setattr(selection_store, "MAX_ENTRIES", 3)
    keys = []
    for i in range(4):
        keys.append(save_selection(tv=tv, rows=[i]))
        path = selections_folder() / f"{keys[-1]}.json.gz"
        os.utime(path, (1000 + i, 1000 + i))  # an order the clock's resolution cannot blur
    left = {p.name.split(".")[0] for p in selections_folder().glob("*.json.gz")}
    assert left == set(keys[1:]) and MAX_ENTRIES > 3


def test_public_selections_are_per_session(tv, monkeypatch) -> None:
    monkeypatch.setenv(PUBLIC_ENV, "1")
    with pytest.raises(PublicModeError, match="namespace"):
        save_selection(tv=tv, rows=[1])
    key = save_selection(tv=tv, rows=[1, 2], namespace="session-aaaaaaaa")
    assert "public_uploads" in str(selections_folder(namespace="session-aaaaaaaa"))
    assert load_selection(tv=tv, key=key, namespace="session-aaaaaaaa").rows.tolist() == [1, 2]
    assert load_selection(tv=tv, key=key, namespace="session-bbbbbbbb") is None
    with pytest.raises(ParameterError, match="namespace"):
        selections_folder(namespace="../other")
