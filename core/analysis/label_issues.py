"""Suspected label errors: samples whose given label an out-of-sample model and their nearest
neighbours find unlikely.

Two witnesses per sample:
- the model: out-of-sample class probabilities p (train a head with cross_fit_folds ≥ 2, so
  no model is asked about a label it was trained on);
- the neighbours: v, how the k nearest samples in feature space are labelled.
score = 1 − q[given] with q = (1 − w)·p + w·v (w = NEIGHBOUR_WEIGHT, k = DEFAULT_NEIGHBORS);
the suggested label is the most likely other class under q.

Measured (benchmarks section "quality", and the study behind it): Fashion-MNIST 10k,
EfficientNet-Lite0 @96 px, 5-fold cross-fitted logreg, symmetric noise, 3 seeds, planted
errors found in the top k = number planted — cleanlab 2.9's self-confidence ranking
(`cleanlab.rank.get_label_quality_scores`, its best method here; normalized margin and
confidence-weighted entropy were worse) found 198/300, 696/900, 1190/1500 at 1/3/5 %;
q with w = 0.25, k = 50 found 228, 758, 1265 (the old w = 0.5, k = 10 found 217, 725, 1244;
the issue's 214/300 counted only the flagged rows). So cleanlab's model-only ranking is the
baseline and the neighbour witness is kept because it adds 4–15 %.

*Flagged* is cleanlab's confident-learning filter (`cleanlab.filter.find_label_issues`,
Northcutt et al. 2021) on p with fewer than half the neighbours agreeing — witness "model"
— or a neighbour majority for another class while p[given] < 0.02 — witness "neighbours";
"both" when both rules fire.

*Action* is what accepting every suggestion with no human does: exclude every flagged
sample; the unflagged keep their label. Measured (benchmarks section 12, Fashion-MNIST 10k,
5 % / 10 % flips, seeds 1–3, scored on the 8,541 official test images outside the subset):
it recovers 76 % / 79 % of the noisy→clean gap against Cleanlab's drop flow's 72 % / 75 %,
with 1,797 / 1,807 correct labels excluded against 2,025 / 2,106. Relabelling lost earlier
(a flagged correct label relabelled becomes wrong), and so did excluding only the first N of
the ranking, N the confident-joint estimate of the number of issues on the combined
probabilities: chosen on seeds 1–2 by validation accuracy inside train+validation (80.57 %
vs 80.55 %, a tie), it excluded 36–47 % fewer correct labels but recovered only 54 % / 77 %
of the gap on the yardstick. The suggested class and `relabel_backed` stay for a reviewer,
who relabels one image at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from core.analysis.neighbors import KNNGraph, knn_graph, neighbor_label_votes
from core.features.transfer_values import TransferValues

# measured best of k ∈ {10, 20, 30, 50} and w ∈ {0.25, 0.5} (module docstring)
DEFAULT_NEIGHBORS = 50
NEIGHBOUR_WEIGHT = 0.25
# out-of-fold probabilities need K ≥ 2 models; 5 holds out a fifth of the data each time
DEFAULT_CROSS_FIT_FOLDS = 5
WITNESSES = ("model", "neighbours", "both")
# what "accept every suggestion" does to a flagged sample (module docstring: measured)
SUGGESTED_ACTION = "exclude"
# the action column's meaning; 2: unflagged rows say "keep" (include_all tables)
LABEL_ISSUES_VERSION = 2


def model_flags(*, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Boolean mask of cleanlab's confident-learning filter (per-class thresholds, pruned by
    the estimated noise rates)."""
    import warnings

    from cleanlab.filter import find_label_issues as confident_learning

    with warnings.catch_warnings():  # tiny or absent classes: cleanlab warns, still answers
        warnings.simplefilter("ignore")
        return np.asarray(confident_learning(labels=labels, pred_probs=probabilities,
                                             n_jobs=1), dtype=bool)


def relabel_is_backed(*, probabilities: np.ndarray, votes: np.ndarray,
                      suggested: np.ndarray) -> np.ndarray:
    """Per sample whether the model's and the neighbours' top class both are the suggested
    class: the evidence names the fix (a review queue's hint; the bulk action excludes)."""
    return (probabilities.argmax(axis=1) == suggested) & (votes.argmax(axis=1) == suggested)


def witness_names(*, model: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Per sample "model", "neighbours", "both" or "" (not flagged)."""
    names = np.full(len(model), "", dtype=object)
    names[model & ~neighbours] = "model"
    names[neighbours & ~model] = "neighbours"
    names[model & neighbours] = "both"
    return names


def _voting_graph(*, tv: TransferValues, knn: Optional[KNNGraph], n_neighbors: int,
                  cache_dir) -> KNNGraph:
    """The first `n_neighbors` columns of `knn`, or the cached graph when `knn` has fewer
    columns than that and the dataset more samples (a front end's small display graph)."""
    wanted = min(n_neighbors, tv.n - 1)
    if knn is None or knn.n_neighbors_ < wanted:
        return knn_graph(tv=tv, n_neighbors=n_neighbors, cache_dir=cache_dir)
    if knn.n_neighbors_ > wanted:  # rows are sorted nearest first: slicing is exact
        return knn.subgraph(wanted)
    return knn


def find_label_issues(*, tv: TransferValues, probabilities: np.ndarray,
                      knn: Optional[KNNGraph] = None, top: Optional[int] = None,
                      include_all: bool = False, n_neighbors: int = DEFAULT_NEIGHBORS,
                      cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Samples ranked most suspicious first.

    Columns: index, sample_id, given, suggested, score, knn_agreement, self_confidence,
    given_class, suggested_class, flagged, witness, relabel_backed (`relabel_is_backed`),
    action (what accepting every suggestion does with no human: SUGGESTED_ACTION for flagged
    rows, "keep" for the rest). By default only flagged samples are returned (the review
    queue); include_all=True ranks every sample. `top` keeps the first rows.

    `knn` may have any number of neighbours per row (e.g. a front end's display graph): only
    its first `n_neighbors` columns vote, and a smaller graph is replaced by the cached one,
    so the ranking is always the one `knn=None` gives.
    """
    labels = np.asarray(tv.labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (tv.n, len(tv.class_names)):
        raise ValueError(f"probabilities must be (N, C) = ({tv.n}, {len(tv.class_names)}), "
                         f"got {probabilities.shape}")
    knn = _voting_graph(tv=tv, knn=knn, n_neighbors=n_neighbors, cache_dir=cache_dir)
    votes = neighbor_label_votes(graph=knn, labels=labels, num_classes=probabilities.shape[1])
    rows = np.arange(tv.n)
    knn_agreement = votes[rows, labels].astype(np.float64)
    self_confidence = probabilities[rows, labels]
    combined = (1 - NEIGHBOUR_WEIGHT) * probabilities + NEIGHBOUR_WEIGHT * votes
    score = 1.0 - combined[rows, labels]
    others = combined.copy()
    others[rows, labels] = -1.0
    suggested = others.argmax(axis=1)
    backed = relabel_is_backed(probabilities=probabilities, votes=votes, suggested=suggested)

    by_model = model_flags(labels=labels, probabilities=probabilities)
    by_neighbours = (votes.argmax(axis=1) != labels) & (knn_agreement < 0.5)
    # one witness flags only where the other does not back the label either: cleanlab's
    # filter alone flagged 5× the planted errors on digits pixels
    flagged = (by_model & (knn_agreement < 0.5)) | (by_neighbours & (self_confidence < 0.02))
    witness = np.where(flagged, witness_names(model=by_model, neighbours=by_neighbours), "")

    order = np.lexsort((rows, self_confidence, -score))
    if not include_all:
        order = order[flagged[order]]
    if top is not None:
        order = order[:top]
    names = np.asarray(tv.class_names, dtype=object)
    return pd.DataFrame({
        "index": order, "sample_id": np.asarray(tv.sample_ids)[order],
        "given": labels[order], "suggested": suggested[order], "score": score[order],
        "knn_agreement": knn_agreement[order], "self_confidence": self_confidence[order],
        "given_class": names[labels[order]], "suggested_class": names[suggested[order]],
        "flagged": flagged[order], "witness": witness[order], "relabel_backed": backed[order],
        "action": np.where(flagged[order], SUGGESTED_ACTION, "keep").astype(object),
    })
