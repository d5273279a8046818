"""Heads trained on transfer values: classification heads, and regression heads ("ridge",
"mlp_regressor") that predict a numeric target (`train_head(target=...)`).

`HEADS` maps a name to a head class; `train_head` trains one by name. Adding a head means
writing a `HeadModel` subclass and decorating it with `register_head` — see
`core.heads.base`. "finetune" is the classifier of a fine-tuning run (`core.finetune`) on the
fine-tuned backbone's values; `core.finetune.evaluate` runs both. `core.heads.evaluation`
reads predictions: confusion matrices, the samples behind a cell, failures worst first.
"""

from core.heads import logreg as _logreg  # noqa: F401  (registers logreg, first: the default)
from core.heads import keras_heads as _keras_heads  # noqa: F401  (registers softmax, mlp)
from core.heads import finetuned as _finetuned  # noqa: F401  (registers finetune)
from core.heads import ridge as _ridge  # noqa: F401  (registers ridge)
from core.heads import mlp_regressor as _mlp_regressor  # noqa: F401  (registers mlp_regressor)
from core.heads.base import EpochLog, HeadData, HeadModel, RegressionHead
from core.heads.compare import compare_cached_heads, compare_heads
from core.heads.degenerate import is_degenerate
from core.heads.history import (HeadSummary, best_head, delete_head, list_heads,
                                load_head_by_key)
from core.heads.registry import (DEFAULT_HEAD, HEADS, default_head_params, describe_head,
                                 head_names, head_title, parameter_specs, register_head)
from core.heads.storage import save_head
from core.heads.trained import TrainedHead, load_head
from core.heads.training import evaluate_head, split_rows, train_head

__all__ = ["DEFAULT_HEAD", "HEADS", "head_names", "head_title", "EpochLog", "HeadData",
           "HeadModel", "HeadSummary", "RegressionHead", "TrainedHead", "best_head", "compare_cached_heads",
           "compare_heads", "default_head_params", "delete_head", "describe_head",
           "evaluate_head", "is_degenerate", "list_heads", "load_head", "load_head_by_key",
           "parameter_specs", "register_head", "save_head", "split_rows", "train_head"]
