"""`train_head`: train on the train split, tune on validation, report on test.

Probabilities come back for every sample; with `cross_fit_folds=K` the training samples'
probabilities are out-of-fold (K models, each blind to one fold), so label-issue detection
does not ask a model about labels it memorised. Results are cached per (transfer values,
head, parameters, seed, folds, augmentations).

A regression head (`task == "regression"`) trains on a numeric `target`
(`core.datasets.targets.Target`) instead of the labels and returns a number per sample
(out-of-fold on train likewise); its cache key adds the target's name and values.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from core.features.preprocessing import preprocessing_of
from core.heads.base import EpochLog, HeadData, HeadModel
from core.heads.registry import get_head_class
from core.heads.storage import save_head
from core.heads.trained import TrainedHead, load_head
from core.base.jobs import heavy_job
from core.base.progress import Progress, ProgressCallback
from core.base.splits import TEST, TRAIN, VAL
from core.features.transfer_values import TransferValues

CACHE_KIND = "heads"
HEADS_VERSION = 1
CARVED_VAL_FRACTION = 0.1  # when a dataset has no val split, early stopping needs one


def train_head(*, tv: TransferValues, head: str, params: dict[str, Any] | None = None,
               seed: int = 0, progress: Optional[ProgressCallback] = None,
               on_epoch: Optional[Callable[[EpochLog], None]] = None,
               cross_fit_folds: int = 0, augmented: Sequence[TransferValues] = (),
               dataset=None, cache_dir: str | Path | None = None,
               use_cache: bool = True, target=None) -> TrainedHead:
    """Train `head` on tv's train split (plus `augmented` views of the same training samples,
    e.g. transfer values of flipped images), early-stop/tune on val, evaluate on test.
    A regression head needs `target` (a `Target` of tv's samples); a classification head
    takes none and needs at least two classes."""
    cls = get_head_class(head)
    resolved = cls.resolve_params(params)
    _check_task(cls, tv=tv, target=target)
    if cls.needs_images and dataset is None:
        raise ValueError(f"head '{head}' trains on images: pass dataset=")
    if cross_fit_folds == 1 or cross_fit_folds < 0:
        raise ValueError("cross_fit_folds must be 0 (off) or at least 2")
    if cross_fit_folds and cls.cross_fit_reason:
        raise ValueError(cls.cross_fit_reason)
    for view in augmented:
        if not np.array_equal(view.sample_ids, tv.sample_ids):
            raise ValueError(f"augmented view {view.key} is not of the same samples as {tv.key}")

    key = head_key(tv_key=tv.key, head=head, params=resolved, seed=seed,
                   cross_fit_folds=cross_fit_folds, augmented_keys=[v.key for v in augmented],
                   target=target)
    if not use_cache:
        return _train(tv=tv, cls=cls, params=resolved, seed=seed, progress=progress,
                      on_epoch=on_epoch, folds=cross_fit_folds,
                      augmented=augmented, dataset=dataset, key=key, target=target)

    from core.base.cache import ArrayCache

    cache = ArrayCache(kind=CACHE_KIND, root=cache_dir)
    entry = cache.entry_path(key)
    loaded = _try_load(entry)
    if loaded is None:
        with cache.lock(key):
            loaded = _try_load(entry)
            if loaded is None:
                trained = _train(tv=tv, cls=cls, params=resolved, seed=seed, progress=progress,
                                 on_epoch=on_epoch, folds=cross_fit_folds,
                                 augmented=augmented, dataset=dataset, key=key, target=target)
                save_head(trained, entry)
                _count_if_public(cache, entry)
                return trained
    loaded.cache = "hit"
    return loaded


def head_key(*, tv_key: str, head: str, params: dict[str, Any], seed: int = 0,
             cross_fit_folds: int = 0, augmented_keys: Sequence[str] = (),
             target=None) -> str:
    """The cache key of a trained head: everything that changes it, hashed. `params` are the
    resolved ones (`HeadModel.resolve_params`), so leaving a default out or spelling it gives
    the same key."""
    from core.base.hashing import hash_key

    fields = {"tv": tv_key, "head": head, "params": params, "seed": int(seed),
              "cross_fit_folds": int(cross_fit_folds), "augmented": list(augmented_keys),
              "version": HEADS_VERSION}
    if target is not None:  # only then: classification heads keep their keys
        fields["target"] = {"name": target.name, "values": target.key}
    return hash_key(fields)


def _check_task(cls: type[HeadModel], *, tv: TransferValues, target) -> None:
    from core.base.errors import TransferLensError
    from core.heads.registry import head_names

    if cls.task == "regression":
        if target is None:
            raise ValueError(f"head '{cls.name}' predicts a number: choose a numeric target "
                             f"(target=dataset.target(name); CLI --target NAME)")
        target.check_aligned(tv.sample_ids)
    elif target is not None:
        regressors = ", ".join(n for n in head_names() if get_head_class(n).task == "regression")
        raise ValueError(f"head '{cls.name}' predicts classes, not the target '{target.name}'; "
                         f"for a number use a regression head ({regressors})")
    elif len(tv.class_names) < 2:
        raise TransferLensError(
            f"A classification head needs at least two classes; these transfer values have "
            f"{len(tv.class_names)} ({', '.join(tv.class_names) or 'no class folders'}). Train "
            f"a regression head on a numeric target instead (CLI --head ridge --target NAME).")


def _count_if_public(cache, entry: Path) -> None:
    """A head a public visitor trained counts toward the public cache budget, like every
    other public-made entry (core.base.cache_budget)."""
    from core.base.cache_budget import enforce_public_budget, mark_public_made
    from core.base.public import is_public

    if is_public():
        mark_public_made(entry)
        enforce_public_budget(cache.dir.parent, keep=[entry])


def _try_load(path: Path) -> Optional[TrainedHead]:
    from core.base.cache_budget import touch_if_public_made

    if not (path / "manifest.json").is_file():
        return None
    touch_if_public_made(path)
    try:
        return load_head(path)
    except Exception:  # a damaged cached head is retrained, never half-used
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        return None


# --- the training itself ---

def split_rows(tv: TransferValues, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(train, val, test) sample indices; val carved from train when the dataset has none."""
    splits = np.asarray(tv.splits)
    train, val, test = (np.flatnonzero(splits == code) for code in (TRAIN, VAL, TEST))
    if len(train) == 0:
        from core.base.errors import TransferLensError

        raise TransferLensError("The dataset has no training samples; a head cannot be trained.")
    source = "val split"
    if len(val) == 0 and len(train) >= 20:
        from core.datasets.base import stratified_splits

        codes = stratified_splits(np.asarray(tv.labels)[train], val_fraction=CARVED_VAL_FRACTION,
                                  test_fraction=0.0, seed=seed)
        train, val = train[codes == TRAIN], train[codes == VAL]
        source = f"{CARVED_VAL_FRACTION:.0%} carved from train"
    return train, val, test, source


def _rows(tv: TransferValues, rows: np.ndarray) -> np.ndarray:
    return np.asarray(tv.values[rows], dtype=np.float32)


def _head_data(*, tv, train, val, augmented, dataset, target=None) -> HeadData:
    labels = np.asarray(tv.labels) if target is None else np.asarray(target.values, np.float32)
    x_train = _rows(tv, train)
    y_train = labels[train]
    if augmented:
        x_train = np.vstack([x_train] + [_rows(view, train) for view in augmented])
        y_train = np.concatenate([y_train] * (1 + len(augmented)))
    return HeadData(x_train=x_train, y_train=y_train, x_val=_rows(tv, val), y_val=labels[val],
                    num_classes=0 if target is not None else len(tv.class_names),
                    train_rows=train, val_rows=val, tv=tv, dataset=dataset)


def _predict_all(model: HeadModel, tv: TransferValues, chunk: int = 16384) -> np.ndarray:
    """Every sample's probabilities (N, C), or a regression head's numbers (N,)."""
    predict = model.predict if model.task == "regression" else model.predict_proba
    parts = [predict(_rows(tv, np.arange(s, min(tv.n, s + chunk))))
             for s in range(0, tv.n, chunk)]
    return np.concatenate(parts).astype(np.float32)


def _prefixed(progress: Optional[ProgressCallback], prefix: str) -> Optional[ProgressCallback]:
    if progress is None:
        return None
    return lambda p: progress(Progress(f"{prefix}{p.stage}", p.done, p.total, p.rate,
                                       p.eta_seconds, p.message))


def _train(*, progress, **kwargs) -> TrainedHead:
    """Train through the job gate: one heavy job at a time per process (core.base.jobs);
    a public app first bounds the run's estimated cost (core.heads.cost)."""
    from core.heads.cost import check_public_head_cost

    cls, tv = kwargs["cls"], kwargs["tv"]
    train_rows = int((np.asarray(tv.splits) == TRAIN).sum()) or tv.n
    check_public_head_cost(head=cls.name, params=kwargs["params"],
                           n_rows=train_rows * (1 + len(kwargs["augmented"])), dim=tv.dim,
                           classes=1 if cls.task == "regression" else len(tv.class_names),
                           folds=kwargs["folds"], fine_tunes_backbone=cls.fine_tunes_backbone)
    with heavy_job(name=f"training a {kwargs['cls'].name} head", progress=progress):
        if kwargs["cls"].task == "regression":
            return _train_regression_now(progress=progress, **kwargs)
        kwargs.pop("target")
        return _train_now(progress=progress, **kwargs)


def _train_now(*, tv, cls, params, seed, progress, on_epoch, folds, augmented, dataset,
               key) -> TrainedHead:
    started = time.perf_counter()
    train, val, test, val_source = split_rows(tv, seed=seed)
    data = _head_data(tv=tv, train=train, val=val, augmented=augmented, dataset=dataset)
    model = cls(params=params, seed=seed)
    model.check_resources(data)  # refuse what cannot fit before any allocation
    model.fit(data, progress=progress, on_epoch=on_epoch)
    # a head that reads work done elsewhere (a fine-tuning run) reports that work's time
    train_seconds = float(model.details_.get("train_seconds", time.perf_counter() - started))
    del data
    probabilities = _predict_all(model, tv)
    in_sample_train = probabilities[train].argmax(axis=1)

    cross_fit_seconds = None
    if folds:
        fold_started = time.perf_counter()
        probabilities[train] = _out_of_fold(tv=tv, cls=cls, params=params, seed=seed,
                                            train=train, val=val, folds=folds,
                                            augmented=augmented, dataset=dataset,
                                            progress=progress)
        cross_fit_seconds = time.perf_counter() - fold_started

    labels = np.asarray(tv.labels)
    metrics = evaluate_head(labels=labels, probabilities=probabilities, train=train, val=val,
                            test=test, class_names=tv.class_names)
    metrics["train_accuracy"] = float(np.mean(in_sample_train == labels[train]))
    if folds:
        metrics["train_accuracy_out_of_fold"] = float(
            np.mean(probabilities[train].argmax(axis=1) == labels[train]))
    metrics.update(train_seconds=round(train_seconds, 3),
                   cross_fit_seconds=None if cross_fit_seconds is None else round(cross_fit_seconds, 3),
                   total_seconds=round(time.perf_counter() - started, 3), val_source=val_source,
                   n_augmented_views=len(augmented), details=model.details_)
    return TrainedHead(head=cls.name, params=params, classes=tuple(tv.class_names),
                       probabilities=probabilities, predictions=probabilities.argmax(axis=1),
                       history=list(model.history_), metrics=metrics, model=model, seed=seed,
                       cross_fit_folds=folds, tv_key=tv.key, feature_dim=tv.dim, key=key,
                       preprocessing=preprocessing_of(tv.manifest))


def _train_regression_now(*, tv, cls, params, seed, progress, on_epoch, folds, augmented,
                          dataset, key, target) -> TrainedHead:
    from core.heads.regression_metrics import evaluate_regression

    started = time.perf_counter()
    train, val, test, val_source = split_rows(tv, seed=seed)
    data = _head_data(tv=tv, train=train, val=val, augmented=augmented, dataset=dataset,
                      target=target)
    model = cls(params=params, seed=seed)
    model.check_resources(data)
    model.fit(data, progress=progress, on_epoch=on_epoch)
    train_seconds = time.perf_counter() - started
    del data
    predictions = _predict_all(model, tv)
    in_sample_train = predictions[train].copy()
    cross_fit_seconds = None
    if folds:
        fold_started = time.perf_counter()
        predictions[train] = _out_of_fold_values(tv=tv, cls=cls, params=params, seed=seed,
                                                 train=train, val=val, folds=folds,
                                                 augmented=augmented, dataset=dataset,
                                                 target=target, progress=progress)
        cross_fit_seconds = time.perf_counter() - fold_started
    metrics = evaluate_regression(targets=target.values, predictions=predictions, train=train,
                                  val=val, test=test, labels=tv.labels,
                                  class_names=tv.class_names)
    if folds:  # the per-split scores above saw out-of-fold numbers on train
        from core.heads.regression_metrics import _scores

        metrics["train_r2_out_of_fold"] = metrics["train_r2"]
        metrics["train_r2"] = _scores(target.values[train], in_sample_train)["r2"]
    metrics.update(train_seconds=round(train_seconds, 3),
                   cross_fit_seconds=None if cross_fit_seconds is None else round(cross_fit_seconds, 3),
                   total_seconds=round(time.perf_counter() - started, 3), val_source=val_source,
                   n_augmented_views=len(augmented), details=model.details_)
    return TrainedHead(head=cls.name, params=params, classes=tuple(tv.class_names),
                       probabilities=np.zeros((tv.n, 0), np.float32), predictions=predictions,
                       history=list(model.history_), metrics=metrics, model=model, seed=seed,
                       cross_fit_folds=folds, tv_key=tv.key, feature_dim=tv.dim, key=key,
                       preprocessing=preprocessing_of(tv.manifest), task="regression",
                       target=target.name, target_key=target.key)


def _out_of_fold_values(*, tv, cls, params, seed, train, val, folds, augmented, dataset, target,
                        progress) -> np.ndarray:
    """A regression head's number for each training sample from a model that never saw it."""
    from sklearn.model_selection import KFold

    out = np.zeros(len(train), dtype=np.float32)
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (fit_pos, held_pos) in enumerate(splitter.split(np.zeros(len(train)))):
        data = _head_data(tv=tv, train=train[fit_pos], val=val, augmented=augmented,
                          dataset=dataset, target=target)
        model = cls(params=params, seed=seed + 1 + fold).fit(
            data, progress=_prefixed(progress, f"cross-fit {fold + 1}/{folds}: "))
        out[held_pos] = model.predict(_rows(tv, train[held_pos]))
    return out


def _out_of_fold(*, tv, cls, params, seed, train, val, folds, augmented, dataset,
                 progress) -> np.ndarray:
    """Probabilities for each training sample from a model that never saw it."""
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.asarray(tv.labels)[train]
    counts = np.bincount(labels)
    smallest = counts[counts > 0].min()
    # stratify when every class can appear in every fold; otherwise plain shuffled folds
    splitter = (StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
                if smallest >= folds else KFold(n_splits=folds, shuffle=True, random_state=seed))
    out = np.zeros((len(train), len(tv.class_names)), dtype=np.float32)
    for fold, (fit_pos, held_pos) in enumerate(splitter.split(np.zeros(len(train)), labels)):
        data = _head_data(tv=tv, train=train[fit_pos], val=val, augmented=augmented,
                          dataset=dataset)
        model = cls(params=params, seed=seed + 1 + fold).fit(
            data, progress=_prefixed(progress, f"cross-fit {fold + 1}/{folds}: "))
        out[held_pos] = model.predict_proba(_rows(tv, train[held_pos]))
    return out


def evaluate_head(*, labels: np.ndarray, probabilities: np.ndarray, train: np.ndarray,
                  val: np.ndarray, test: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracies per split, the chance level, and per-class precision/recall/F1 on test."""
    from sklearn.metrics import log_loss, precision_recall_fscore_support

    predictions = probabilities.argmax(axis=1)
    num_classes = len(class_names)

    def accuracy(rows):
        return float(np.mean(predictions[rows] == labels[rows])) if len(rows) else None

    report_rows = test if len(test) else val
    majority = int(np.bincount(labels[train], minlength=num_classes).argmax())
    metrics: dict[str, Any] = {
        "val_accuracy": accuracy(val), "test_accuracy": accuracy(test),
        # "before training": always answering the most frequent training class
        "chance_accuracy": (float(np.mean(labels[report_rows] == majority))
                            if len(report_rows) else None),
        "chance_rule": f"majority class of train ('{class_names[majority]}'), scored on "
                       f"{'test' if len(test) else 'val'}",
        "uniform_chance": 1.0 / num_classes,
        "n_train": int(len(train)), "n_val": int(len(val)), "n_test": int(len(test)),
    }
    if len(test):
        p, r, f, s = precision_recall_fscore_support(labels[test], predictions[test],
                                                     labels=np.arange(num_classes), zero_division=0)
        metrics["per_class"] = [{"class": class_names[c], "precision": float(p[c]),
                                 "recall": float(r[c]), "f1": float(f[c]), "support": int(s[c])}
                                for c in range(num_classes)]
        clipped = np.clip(probabilities[test], 1e-7, 1.0)
        metrics["test_log_loss"] = float(log_loss(labels[test], clipped / clipped.sum(1, keepdims=True),
                                                  labels=np.arange(num_classes)))
    else:
        metrics["per_class"] = []
    return metrics
