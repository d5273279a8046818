"""Published bundles (core.publish): opened without TensorFlow and without computing."""

from __future__ import annotations

import streamlit as st

from core.base.errors import TransferLensError
from dashboard.services.memo import remembered

BUNDLE_PREFIX = "bundle:"  # a dataset choice naming a bundle found by core.publish.list_bundles


def is_bundle_source(source: str) -> bool:
    return str(source).startswith(BUNDLE_PREFIX)


@st.cache_data(ttl=60, show_spinner=False)
def bundle_catalog(root: str | None = None) -> dict[str, dict]:
    """Bundles under the bundles folder ($TRANSFER_LENS_BUNDLES or demo/) by choice
    ("bundle:<folder>"): label, size, backbone (manifest only: opening verifies later)."""
    from core.publish.bundle import bundles_root, list_bundles, read_manifest

    base = bundles_root() if root is None else root
    found = {}
    for folder in list_bundles(base):
        try:
            manifest = read_manifest(folder)
        except TransferLensError:
            continue  # an old format version: not offered (publishing again fixes it)
        name = folder.relative_to(base).as_posix()
        found[BUNDLE_PREFIX + name] = {
            "path": str(folder), "name": name, "n": int(manifest["n"]),
            "dataset": manifest["dataset"]["name"], "backbone": manifest["backbone"],
            "image_size": int(manifest["image_size"]),
            "label": f"{name} (published)"}
    return found


def bundles() -> dict[str, dict]:
    from core.publish.bundle import bundles_root

    return bundle_catalog(str(bundles_root()))


@st.cache_resource(show_spinner="Opening the published bundle…", max_entries=4)
def published(path: str):
    """(bundle, its dataset of thumbnails, its TransferValues), verified once per process."""
    from core.publish import open_bundle

    bundle = open_bundle(path)
    tv = bundle.transfer_values()
    _bundles_by_tv()[tv.key] = bundle
    return bundle, bundle.dataset(), tv


@st.cache_resource(show_spinner=False)
def _bundles_by_tv() -> dict:
    return {}


def bundle_of(tv):
    """The published bundle these transfer values come from, or None."""
    if "bundle" not in (getattr(tv, "manifest", None) or {}):
        return None
    return _bundles_by_tv().get(tv.key)


def bundle_projection(tv, *, method: str, dims: int, params: dict | None):
    """The bundle's precomputed 2-D projection when these are its parameters, else None."""
    bundle = bundle_of(tv)
    if bundle is None or dims != 2 or method not in bundle.methods:
        return None
    entry = bundle.manifest["projections"][method]
    if any(entry["params"].get(name) != value for name, value in (params or {}).items()):
        return None  # other parameters: computed (and cached) like any projection

    def load():
        from core.analysis.projections import Projection
        import numpy as np

        return Projection(coords=np.asarray(bundle.projection(method), dtype=np.float32),
                          method=method, dims=2, params=dict(entry["params"]),
                          key=entry.get("key") or f"{tv.key}-{method}", cache="hit",
                          seconds=0.0, seed=int(entry.get("seed", 0)),
                          details={"bundle": bundle.name})

    return remembered(("bundle_projection", tv.key, method), load)
