"""Fine-tuning the backbone end to end, after a head trained on frozen transfer values.

Modules, in the order a run uses them: `config` (FineTuneConfig: every setting, part of
the run's key; the epoch and result records), `schedule` (the learning rate), `run`
(start, resume or load a run by its key), `trainer` (the training loop, checkpoints and
the saved models), `evaluate` (the run's classifier as the "finetune" head on the
fine-tuned backbone's transfer values, with the values before and after).
"""

from core.finetune.config import FineTuneConfig, FineTuneEpoch, FineTuneResult
from core.finetune.run import fine_tune, run_dir_for, run_key

__all__ = ["FineTuneConfig", "FineTuneEpoch", "FineTuneResult", "fine_tune",
           "run_dir_for", "run_key"]
