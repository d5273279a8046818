"""Error slices: coherent groups of samples in transfer-value space where the head errs far
more than on average.

Method (a scan over a cluster tree, SliceLine-style search on nested clusters):
- rows: the head's out-of-sample predictions only (cross-fitted probabilities cover every
  sample; otherwise validation + test), so no row is judged by a model that saw its label;
- space: the shared PCA reduction of the transfer values, scaled to unit mean squared norm,
  plus the given label one-hot × `label_weight` (two labels 1 apart), the head's class
  probabilities × `prediction_weight` (scaled alike) and the error indicator ×
  `error_weight` (Domino's idea, Eyuboglu et al. 2022, which models the embedding, label
  and prediction together): the label splits look-alikes that carry different labels, such
  as a mislabelled training batch (right by its wrong label) and the correctly labelled
  images it makes the head fail on; the prediction then splits those look-alikes the head
  sends to the batch's class from their own class's images it gets right;
- candidates: every node of a Ward cluster tree over that space, constrained to the kNN
  graph of the values and labels alone (scikit-learn's connectivity-constrained
  agglomeration): only images that look alike and share a label merge, and the prediction
  only decides where such a region is cut. Groups of every size, from a handful of images
  to a whole class, are candidates;
- score: Kulldorff's Bernoulli scan statistic, the log-likelihood ratio of "this group errs
  at its own rate r" against "at the overall rate p0", n·KL(r‖p0), for r > p0. It grows with
  size and with lift, and falls when passing rows dilute a group, so neither a tiny noisy
  group nor a whole class with a slightly raised rate wins over a coherent failing one;
- significance floor: 2·LLR is χ²(1) under "no difference"; a node is kept only when its
  p-value is below `alpha` divided by the number of nodes tried (Bonferroni), and when it has
  at least `min_size` members;
- ranking: nodes by score, greedily, skipping any node nested in (or containing) one already
  taken, so the slices do not overlap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from core.base.cache import ArrayCache
from core.base.errors import ResourceLimitError
from core.base.hashing import hash_array, hash_key
from core.base.jobs import heavy_job
from core.base.params import Params, param
from core.base.progress import ProgressCallback
from core.base.public import check_public_slices
from core.base.splits import SPLIT_NAMES, TEST, VAL
from core.features.transfer_values import TransferValues

KIND = "error_slices"
SLICES_VERSION = 3
# The Ward tree's agglomeration is about O(n · k · log n) with the kNN connectivity but keeps
# n² bookkeeping in places; 50,000 evaluated rows take tens of seconds on 2 cores.
MAX_ROWS = 50_000
# image statistics describe a slice when its mean differs from the other rows' by this many
# pooled standard deviations (Cohen's d: 0.8 is a "large" effect)
DESCRIBE_EFFECT = 0.8
DOMINANT_SHARE = 0.5  # a class / split / pair is named when it holds at least this share


@dataclass(frozen=True)
class SliceConfig(Params):
    pca_dims: int = param(50, min=2, max=512,
                          help="dimensions of the shared PCA reduction the groups are found in")
    n_neighbors: int = param(10, min=2, max=90,
                             help="neighbours per row in the graph the cluster tree follows")
    error_weight: float = param(0.0, min=0, max=10,
                                help="weight of the error indicator appended to the reduced "
                                     "values, not to the graph of who may merge (0: ignored; "
                                     "when it was in that graph too, any weight from 0.1 "
                                     "gathered the synthetic test's scattered errors into "
                                     "incoherent all-error groups)")
    label_weight: float = param(1.0, min=0, max=10,
                                help="weight of the given label (one-hot) appended to the "
                                     "reduced values (Domino's idea: a slice is a group of one "
                                     "class; it splits images that look alike but carry "
                                     "different labels, such as a mislabelled batch and the "
                                     "correctly labelled look-alikes it makes the head fail on)")
    prediction_weight: float = param(0.3, min=0, max=10,
                                     help="weight of the head's class probabilities appended "
                                          "to the reduced values (Domino models the prediction "
                                          "too): where images that look alike and share a label "
                                          "are cut apart, those the head sends to another class "
                                          "(look-alikes of a mislabelled batch) part from those "
                                          "it gets right. 0 ignores the prediction; 0.3 met the "
                                          "planted-slice goal on every seed, 0.5 merged two "
                                          "planted slices of different classes")
    min_size: int = param(15, min=2, max=100_000,
                          help="fewest members a slice may have")
    max_share: float = param(0.1, min=0, max=1, min_exclusive=True,
                             help="largest share of the evaluated rows a slice may hold: a "
                                  "bigger group is a region, not a slice, and taking it "
                                  "would hide the coherent groups inside it")
    alpha: float = param(0.01, min=0, max=1, min_exclusive=True,
                         help="significance floor: a slice's error rate must differ from the "
                              "overall rate at this level, Bonferroni-corrected over all "
                              "candidate groups")
    top: int = param(10, min=1, max=100, help="slices returned at most")
    gallery: int = param(12, min=1, max=64, help="representative images per slice")


@dataclass
class ErrorSlice:
    """One slice: `members` are dataset row indices (ascending), `gallery` the members to show
    first (failing members nearest the slice's centre, then the others)."""

    rank: int
    members: np.ndarray
    gallery: np.ndarray
    errors: int
    error_rate: float
    rest_error_rate: float
    score: float
    p_value: float
    pairs: list[dict[str, Any]]
    description: str
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(len(self.members))

    @property
    def accuracy(self) -> float:
        return 1.0 - self.error_rate

    @property
    def rest_accuracy(self) -> float:
        return 1.0 - self.rest_error_rate

    def as_dict(self, *, with_members: bool = True) -> dict[str, Any]:
        out = {"rank": self.rank, "size": self.size, "errors": self.errors,
               "error_rate": self.error_rate, "rest_error_rate": self.rest_error_rate,
               "score": self.score, "p_value": self.p_value, "pairs": self.pairs,
               "description": self.description, "facts": self.facts,
               "gallery": [int(i) for i in self.gallery]}
        if with_members:
            out["members"] = [int(i) for i in self.members]
        return out


@dataclass
class ErrorSlices:
    """The ranked slices of one head's out-of-sample predictions."""

    slices: list[ErrorSlice]
    evaluated: np.ndarray  # dataset rows the slices were sought among (ascending)
    overall_error_rate: float
    candidates: int  # tree nodes scored
    settings: dict[str, Any]
    key: str = ""
    cache: str = "miss"
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.slices)

    def membership(self, n: int) -> np.ndarray:
        """(n,) int: each row's slice rank (1 = top), 0 outside every slice."""
        out = np.zeros(n, dtype=np.int32)
        for item in self.slices:
            out[item.members] = item.rank
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per slice (no member lists): rank, size, errors, rates, score, description."""
        rows = [item.as_dict(with_members=False) for item in self.slices]
        columns = ["rank", "size", "errors", "error_rate", "rest_error_rate", "score",
                   "p_value", "description"]
        return pd.DataFrame(rows, columns=columns + ["pairs", "facts", "gallery"])[columns]

    def as_dict(self, *, with_members: bool = True) -> dict[str, Any]:
        return {"overall_error_rate": self.overall_error_rate,
                "evaluated": int(len(self.evaluated)), "candidates": self.candidates,
                "settings": self.settings, "key": self.key,
                "slices": [s.as_dict(with_members=with_members) for s in self.slices]}


def out_of_sample_rows(*, splits: np.ndarray, cross_fit_folds: int) -> np.ndarray:
    """Rows whose predictions no model trained on: every row when the head was cross-fitted
    (K ≥ 2), else validation + test."""
    splits = np.asarray(splits)
    if cross_fit_folds >= 2:
        return np.arange(len(splits))
    return np.flatnonzero((splits == VAL) | (splits == TEST))


def image_statistics(images) -> dict[str, np.ndarray]:
    """Per image: brightness (mean grey level, 0–255) and contrast (its standard deviation).
    `images`: a uint8 array (N, H, W[, C]) or a sequence of such images."""
    if isinstance(images, np.ndarray) and images.ndim >= 3:
        grey = images.astype(np.float32)
        if grey.ndim == 4:
            grey = grey[..., :3].mean(axis=3)
        flat = grey.reshape(len(grey), -1)
        return {"brightness": flat.mean(axis=1), "contrast": flat.std(axis=1)}
    bright, contrast = [], []
    for image in images:
        grey = np.asarray(image, np.float32)
        grey = grey[..., :3].mean(axis=2) if grey.ndim == 3 else grey
        bright.append(grey.mean())
        contrast.append(grey.std())
    return {"brightness": np.asarray(bright, np.float32),
            "contrast": np.asarray(contrast, np.float32)}


def find_error_slices(*, tv: TransferValues, probabilities: np.ndarray,
                      evaluated: Optional[np.ndarray] = None,
                      image_stats: Optional[dict[str, np.ndarray]] = None,
                      config: Optional[dict[str, Any]] = None,
                      cache_dir: str | Path | None = None,
                      progress: Optional[ProgressCallback] = None) -> ErrorSlices:
    """The ranked error slices of a head with out-of-sample `probabilities` (N, C) on tv.

    `evaluated`: the rows whose probabilities are out-of-sample (`out_of_sample_rows`; default
    every row). `image_stats`: optional per-row arrays (all N rows) such as
    `image_statistics(dataset.images...)`, used in the descriptions. `config`: SliceConfig
    fields. Cached per (tv, probabilities, rows, image statistics, settings). A search (a
    cache miss) is heavy work: bounded in a public app (check_public_slices), and it waits
    for the job gate's slot (core.base.jobs; `progress` hears the place in line)."""
    started = time.perf_counter()
    settings = SliceConfig.check(config, owner="error slices")
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.shape != (tv.n, len(tv.class_names)):
        raise ValueError(f"probabilities must be (N, C) = ({tv.n}, {len(tv.class_names)}), "
                         f"got {probabilities.shape}")
    rows = np.arange(tv.n) if evaluated is None else np.unique(np.asarray(evaluated, np.int64))
    if len(rows) and (rows[0] < 0 or rows[-1] >= tv.n):
        raise ValueError(f"evaluated rows must lie in 0..{tv.n - 1}")
    if len(rows) > MAX_ROWS:
        raise ResourceLimitError(f"error slices search at most {MAX_ROWS:,} evaluated rows, got "
                                 f"{len(rows):,}: use --limit (or a subset of the dataset)")
    if len(rows) < 2 * settings["min_size"]:
        raise ValueError(f"error slices need at least {2 * settings['min_size']} evaluated rows "
                         f"(min_size {settings['min_size']}), got {len(rows)}")
    stats = {name: np.asarray(v, np.float32) for name, v in (image_stats or {}).items()}
    for name, values in stats.items():
        if values.shape != (tv.n,):
            raise ValueError(f"image statistic {name!r} must have one value per sample "
                             f"({tv.n}), got shape {values.shape}")
    fields = {"tv": tv.key, "probabilities": hash_array(probabilities),
              "rows": hash_array(rows), "stats": {k: hash_array(v) for k, v in sorted(stats.items())},
              "settings": settings, "version": SLICES_VERSION}
    key = hash_key(fields)
    cache = ArrayCache(kind=KIND, root=cache_dir)

    def compute():
        check_public_slices(rows=len(rows))
        with heavy_job(name=f"error slices of {len(rows):,} images", progress=progress):
            result = _search(tv=tv, probabilities=probabilities, rows=rows, stats=stats,
                             settings=settings, cache_dir=cache_dir)
        return _to_entry(result), {"key_fields": fields, "result": result.as_dict(
            with_members=False)}

    entry, status = cache.load_or_compute(key, compute)
    result = _from_entry(entry)
    result.key, result.cache = key, status
    result.seconds = time.perf_counter() - started
    return result


# --- the search ---


def _search(*, tv, probabilities, rows, stats, settings, cache_dir) -> ErrorSlices:
    from core.analysis.reduction import effective_pca_dims, reduced_values

    labels = np.asarray(tv.labels, np.int64)
    predicted = probabilities.argmax(axis=1)
    wrong_all = predicted != labels
    wrong = wrong_all[rows].astype(np.float64)
    p0 = float(wrong.mean())
    X = np.asarray(reduced_values(tv=tv, pca_dims=effective_pca_dims(tv, settings["pca_dims"]),
                                  cache_dir=cache_dir)[rows], dtype=np.float64)
    X -= X.mean(axis=0)
    X /= max(float(np.sqrt((X ** 2).sum(axis=1).mean())), 1e-12)  # unit mean squared norm
    onehot = np.eye(len(tv.class_names))[labels[rows]] / np.sqrt(2)  # distinct labels: 1 apart
    # probabilities scaled as the label: two confident, different predictions lie 1 apart
    space = np.hstack([X, settings["label_weight"] * onehot,
                       settings["prediction_weight"] * probabilities[rows] / np.sqrt(2),
                       settings["error_weight"] * wrong[:, None]])
    # who may merge: neighbours by values and label alone, so the prediction only decides
    # where a coherent region is cut and never joins images that do not look alike
    children = _ward_tree(space, settings["n_neighbors"],
                          graph_columns=X.shape[1] + onehot.shape[1])
    sizes, errors = _node_counts(children, wrong)
    scores = _scan_statistic(sizes, errors, p0)
    from scipy.stats import chi2

    allowed = (sizes >= settings["min_size"]) & (sizes <= settings["max_share"] * len(rows))
    tried = int(np.sum(allowed))
    p_values = chi2.sf(2 * scores, df=1)
    keep = allowed & (scores > 0) & (p_values < settings["alpha"] / max(tried, 1))
    chosen = _non_overlapping(children, np.flatnonzero(keep), scores, settings["top"])
    slices = []
    for rank, node in enumerate(chosen, start=1):
        local = _leaves(children, node)
        members = rows[local]
        n_err = int(wrong[local].sum())
        rest = len(rows) - len(local)
        rest_rate = (wrong.sum() - n_err) / rest if rest else 0.0
        slices.append(_describe(
            rank=rank, local=local, members=members, n_err=n_err, rest_rate=float(rest_rate),
            score=float(scores[node]), p_value=float(p_values[node]), space=space, rows=rows,
            wrong=wrong, tv=tv, labels=labels, predicted=predicted, probabilities=probabilities,
            stats=stats, gallery=settings["gallery"]))
    return ErrorSlices(slices=slices, evaluated=rows, overall_error_rate=p0, candidates=tried,
                       settings=settings)


def _ward_tree(space: np.ndarray, n_neighbors: int, *, graph_columns: int) -> np.ndarray:
    """(n − 1, 2) merges of a Ward tree over `space` constrained to the kNN graph of its
    first `graph_columns` columns (scikit-learn's `children_`: ids < n are rows, n + i is
    the node merged at step i)."""
    import warnings

    from sklearn.cluster import AgglomerativeClustering
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(space[:, :graph_columns],
                             n_neighbors=min(n_neighbors, len(space) - 1), include_self=False)

    with warnings.catch_warnings():  # several graph components: sklearn joins them, and says so
        warnings.simplefilter("ignore")
        model = AgglomerativeClustering(n_clusters=1, linkage="ward", connectivity=graph,
                                        compute_full_tree=True).fit(space)
    return np.asarray(model.children_, dtype=np.int64)


def _node_counts(children: np.ndarray, wrong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members and errors of every node (rows first, then the merges in order)."""
    n = len(children) + 1
    sizes = np.ones(n + len(children), dtype=np.int64)
    errors = np.concatenate([wrong, np.zeros(len(children))])
    for step, (a, b) in enumerate(children):
        sizes[n + step] = sizes[a] + sizes[b]
        errors[n + step] = errors[a] + errors[b]
    return sizes, errors


def _scan_statistic(sizes: np.ndarray, errors: np.ndarray, p0: float) -> np.ndarray:
    """n·KL(r‖p0) where r = errors/n exceeds p0, else 0 (Kulldorff's Bernoulli scan)."""
    n = sizes.astype(np.float64)
    rate = errors / n
    p0 = min(max(p0, 1e-9), 1 - 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        hit = np.where(errors > 0, errors * np.log(rate / p0), 0.0)
        miss = np.where(n - errors > 0, (n - errors) * np.log((1 - rate) / (1 - p0)), 0.0)
    return np.where(rate > p0, hit + miss, 0.0)


def _non_overlapping(children: np.ndarray, candidates: np.ndarray, scores: np.ndarray,
                     top: int) -> list[int]:
    """Best-scoring candidates first, skipping nodes above or below one already taken."""
    n = len(children) + 1
    parent = np.full(n + len(children), -1, dtype=np.int64)
    for step, (a, b) in enumerate(children):
        parent[a] = parent[b] = n + step
    taken: set[int] = set()
    blocked: set[int] = set()  # the taken nodes and all their ancestors
    chosen: list[int] = []
    for node in candidates[np.lexsort((candidates, -scores[candidates]))]:
        if node in blocked:
            continue
        ancestor, inside = parent[node], False
        while ancestor >= 0:
            if ancestor in taken:
                inside = True
                break
            ancestor = parent[ancestor]
        if inside:
            continue
        chosen.append(int(node))
        taken.add(int(node))
        walk = int(node)
        while walk >= 0 and walk not in blocked:
            blocked.add(walk)
            walk = int(parent[walk])
        if len(chosen) == top:
            break
    return chosen


def _leaves(children: np.ndarray, node: int) -> np.ndarray:
    n = len(children) + 1
    stack, out = [node], []
    while stack:
        current = stack.pop()
        if current < n:
            out.append(current)
        else:
            stack.extend(children[current - n])
    return np.sort(np.asarray(out, dtype=np.int64))


# --- describing a slice ---


def _describe(*, rank, local, members, n_err, rest_rate, score, p_value, space, rows, wrong,
              tv, labels, predicted, probabilities, stats, gallery) -> ErrorSlice:
    names = list(tv.class_names)
    given, pred = labels[members], predicted[members]
    failing = given != pred
    pairs = []
    if failing.any():
        codes, counts = np.unique(given[failing] * len(names) + pred[failing], return_counts=True)
        for code, count in sorted(zip(codes, counts), key=lambda t: (-t[1], t[0]))[:3]:
            pairs.append({"given": names[code // len(names)], "predicted": names[code % len(names)],
                          "count": int(count), "share": float(count / failing.sum())})
    parts, facts = [], {}
    klass, share = _dominant(given, names)
    facts["class"] = {"name": klass, "share": share}
    parts.append(f"{klass} ({share:.0%})" if share >= DOMINANT_SHARE else "mixed classes")
    if pairs and pairs[0]["share"] >= DOMINANT_SHARE:
        parts.append(f"{pairs[0]['given']} → {pairs[0]['predicted']} "
                     f"({pairs[0]['count']} of {int(failing.sum())} errors)")
    split_names = list(SPLIT_NAMES)
    split, split_share = _dominant(np.asarray(tv.splits)[members], split_names)
    facts["split"] = {"name": split, "share": split_share}
    if len(set(np.asarray(tv.splits)[rows])) > 1 and split_share >= 0.8:
        parts.append(f"{split_share:.0%} {split}")
    confidence = probabilities.max(axis=1)
    inside, outside = confidence[members], np.delete(confidence[rows], local)
    facts["confidence"] = {"slice": float(inside.mean()), "rest": float(outside.mean())}
    if failing.any() and confidence[members][failing].mean() >= 0.7:
        parts.append(f"confidently wrong (mean confidence {confidence[members][failing].mean():.2f})")
    elif inside.mean() < outside.mean() - 0.15:
        parts.append(f"unsure (confidence {inside.mean():.2f} vs {outside.mean():.2f})")
    for name, values in stats.items():
        effect, mean_in, mean_out = _effect(values[members], np.delete(values[rows], local))
        facts[name] = {"slice": mean_in, "rest": mean_out, "effect": effect}
        if abs(effect) >= DESCRIBE_EFFECT:
            parts.append(f"{'low' if effect < 0 else 'high'} {name} "
                         f"({mean_in:.0f} vs {mean_out:.0f})")
    parts.append(f"errs {n_err / len(members):.0%} vs {rest_rate:.0%}")
    return ErrorSlice(rank=rank, members=members, gallery=_gallery(local, rows, space, wrong,
                                                                   gallery),
                      errors=n_err, error_rate=n_err / len(members), rest_error_rate=rest_rate,
                      score=score, p_value=p_value, pairs=pairs, description=" · ".join(parts),
                      facts=facts)


def _dominant(values: np.ndarray, names: Sequence[str]) -> tuple[str, float]:
    codes, counts = np.unique(values, return_counts=True)
    best = int(np.argmax(counts))
    return str(names[int(codes[best])]), float(counts[best] / counts.sum())


def _effect(inside: np.ndarray, outside: np.ndarray) -> tuple[float, float, float]:
    """Cohen's d of inside against outside, and both means."""
    pooled = np.sqrt((inside.var() + outside.var()) / 2) if len(outside) else 0.0
    difference = float(inside.mean() - (outside.mean() if len(outside) else inside.mean()))
    return (difference / pooled if pooled > 0 else 0.0, float(inside.mean()),
            float(outside.mean()) if len(outside) else float("nan"))


def _gallery(local, rows, space, wrong, count) -> np.ndarray:
    """Failing members nearest the slice's centre first, then passing ones (dataset rows)."""
    points = space[local, :-1]
    distance = np.linalg.norm(points - points.mean(axis=0), axis=1)
    order = np.lexsort((local, distance, -wrong[local]))
    return rows[local[order[:count]]]


# --- cache entry ---


def _to_entry(result: ErrorSlices) -> dict[str, np.ndarray]:
    members = [s.members for s in result.slices]
    galleries = [s.gallery for s in result.slices]
    return {"evaluated": result.evaluated.astype(np.int64),
            "members": np.concatenate(members or [np.zeros(0, np.int64)]).astype(np.int64),
            "member_offsets": np.cumsum([0] + [len(m) for m in members]).astype(np.int64),
            "gallery": np.concatenate(galleries or [np.zeros(0, np.int64)]).astype(np.int64),
            "gallery_offsets": np.cumsum([0] + [len(g) for g in galleries]).astype(np.int64)}


def _from_entry(entry) -> ErrorSlices:
    saved = entry.manifest["result"]
    members, mo = np.asarray(entry["members"]), np.asarray(entry["member_offsets"])
    gallery, go = np.asarray(entry["gallery"]), np.asarray(entry["gallery_offsets"])
    slices = []
    for i, item in enumerate(saved["slices"]):
        slices.append(ErrorSlice(
            rank=item["rank"], members=members[mo[i]:mo[i + 1]], gallery=gallery[go[i]:go[i + 1]],
            errors=item["errors"], error_rate=item["error_rate"],
            rest_error_rate=item["rest_error_rate"], score=item["score"],
            p_value=item["p_value"], pairs=item["pairs"], description=item["description"],
            facts=item["facts"]))
    return ErrorSlices(slices=slices, evaluated=np.asarray(entry["evaluated"]),
                       overall_error_rate=saved["overall_error_rate"],
                       candidates=saved["candidates"], settings=saved["settings"])


# --- a group picked by hand ---


def score_selection(*, tv: TransferValues, probabilities: np.ndarray,
                    members: Sequence[int], evaluated: Optional[np.ndarray] = None,
                    image_stats: Optional[dict[str, np.ndarray]] = None,
                    gallery: int = SliceConfig.gallery) -> ErrorSlice:
    """Any group of rows (a selection on the map) described and scored as a slice would be
    (rank 0): only its `evaluated` (out-of-sample) rows count, against the other evaluated
    rows; the p-value is for this one group (no search, so no correction)."""
    from scipy.stats import chi2

    probabilities = np.asarray(probabilities, dtype=np.float32)
    rows = np.arange(tv.n) if evaluated is None else np.unique(np.asarray(evaluated, np.int64))
    chosen = np.unique(np.asarray(members, dtype=np.int64))
    if len(chosen) and (chosen[0] < 0 or chosen[-1] >= tv.n):
        raise ValueError(f"selected rows must lie in 0..{tv.n - 1}")
    local = np.flatnonzero(np.isin(rows, chosen))
    if len(local) == 0 or len(local) == len(rows):
        raise ValueError(f"a selection needs at least one of the {len(rows):,} evaluated "
                         f"(out-of-sample) images inside it and one outside, got "
                         f"{len(local):,} inside")
    labels = np.asarray(tv.labels, np.int64)
    predicted = probabilities.argmax(axis=1)
    wrong = (predicted != labels)[rows].astype(np.float64)
    n_err = int(wrong[local].sum())
    rest_rate = float((wrong.sum() - n_err) / (len(rows) - len(local)))
    score = float(_scan_statistic(np.asarray([len(local)]), np.asarray([float(n_err)]),
                                  float(wrong.mean()))[0])
    stats = {name: np.asarray(v, np.float32) for name, v in (image_stats or {}).items()}
    return _describe(rank=0, local=local, members=rows[local], n_err=n_err,
                     rest_rate=rest_rate, score=score, p_value=float(chi2.sf(2 * score, df=1)),
                     space=np.zeros((len(rows), 1)), rows=rows, wrong=wrong, tv=tv,
                     labels=labels, predicted=predicted, probabilities=probabilities,
                     stats=stats, gallery=int(gallery))
