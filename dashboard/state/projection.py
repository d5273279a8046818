"""The projection the maps show (Projections, Error slices, Export): the method, 2-D or 3-D,
and the t-SNE/UMAP parameters a user chooses, from the link once and back into it; with the
density map's zoom and the before/after fine-tuning toggle, into it as well.

The parameters are checked by core's declarations (core.analysis.projection_params), the
ones the sliders take their bounds from; their link names are the parameters' own names.
"""

from __future__ import annotations

from core.analysis.projection_params import (CHOICES, COMPARE, DIMS, chosen_defaults,
                                             chosen_specs)
from core.base.errors import ParameterError
from core.finetune.config import FEATURE_SPACES
from dashboard.state import (PROJ_3D, PROJ_COMPARE, PROJ_METHOD, TSNE_PERPLEXITY, TV_KEY,
                             UMAP_MIN_DIST, UMAP_NEIGHBORS, fine_tuned_space, get, put)
from dashboard.state import results, selection, url

METHODS = tuple(CHOICES)
# the slider (session-state key) of each chosen parameter, per method
PARAM_KEYS = {"tsne": {"perplexity": TSNE_PERPLEXITY},
              "umap": {"n_neighbors": UMAP_NEIGHBORS, "min_dist": UMAP_MIN_DIST}}


def seed_from_link() -> None:
    """The link's method and parameters, taken once, before any map is drawn; a value
    that cannot be used is named in a note and the default stays."""
    method = url.take_url(url.URL_METHOD)
    if method is not None:
        if method in METHODS:
            put(PROJ_METHOD, method)
        else:
            url.reject_url(url.URL_METHOD, method, "choose one of " + ", ".join(METHODS))
    dims = url.take_url(url.URL_DIMS)
    if dims is not None:
        try:
            put(PROJ_3D, DIMS.parse("dims", dims) == 3)
        except ParameterError as error:
            url.reject_url(url.URL_DIMS, dims, f"{error}; the map is 2-D")
    for chosen, keys in PARAM_KEYS.items():
        specs, defaults = chosen_specs(chosen), chosen_defaults(chosen)
        for name, key in keys.items():
            value = url.take_url(name)
            if value is None:
                continue
            try:
                put(key, specs[name].parse(name, value))
            except ParameterError as error:
                url.reject_url(name, value, f"{error}; the default {defaults[name]:g} is used")


def compare_from_link(*, fine_tuned: bool) -> None:
    """The link's before-and-after toggle, taken once when the Projections view first
    draws; it needs a fine-tuning in this session (`fine_tuned`: the link's `ft=` brings
    one), else a note and one map."""
    value = url.take_url(url.URL_COMPARE)
    if value is None:
        return
    try:
        on = COMPARE.parse(url.URL_COMPARE, value)
    except ParameterError as error:
        url.reject_url(url.URL_COMPARE, value, f"{error}; one map is shown")
        return
    if on and not fine_tuned:
        url.reject_url(url.URL_COMPARE, value, "no fine-tuning here to compare with; one map "
                                               "is shown")
        return
    put(PROJ_COMPARE, on)


def projection_choice() -> tuple[str, int, dict | None]:
    """The method, dimensions and parameters the Projections view shows (or would show)."""
    seed_from_link()
    method = get(PROJ_METHOD, "pca")
    dims = 3 if get(PROJ_3D) else 2
    keys, defaults = PARAM_KEYS.get(method), chosen_defaults(method)
    if not keys:
        return method, dims, None
    # a slider not drawn yet (nor set by the link) is at core's default
    return method, dims, {name: get(key, defaults[name]) for name, key in keys.items()}


def link_values() -> dict[str, str | None]:
    """3-D, and the shown method's parameters that are not at their defaults, as link
    values (an exact float: the link must redraw the same map); the density map's zoom; the
    fine-tuning (its run key), whether it is compared before and after, and whether every
    view shows its values (the sidebar's feature space)."""
    method = get(PROJ_METHOD, "pca")
    values: dict[str, str | None] = {name: None for keys in PARAM_KEYS.values()
                                     for name in keys}
    values[url.URL_DIMS] = "3" if get(PROJ_3D) else None
    values[url.URL_ZOOM] = selection.zoom_link_value()
    values[url.URL_FINETUNE] = fine_tuning = results.finetuned_key(get(TV_KEY))
    values[url.URL_COMPARE] = "true" if fine_tuning and get(PROJ_COMPARE) else None
    values[url.URL_SPACE] = FEATURE_SPACES[1] if fine_tuning and fine_tuned_space() else None
    defaults = chosen_defaults(method)
    for name, key in PARAM_KEYS.get(method, {}).items():
        value = get(key)
        if value is not None and value != defaults[name]:
            values[name] = repr(value) if isinstance(value, float) else str(value)
    return values
