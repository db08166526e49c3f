"""Fine-tuning with ``transformers.Trainer``: one concern per module.

* ``arguments``: config checks and Trainer's ``TrainingArguments``;
* ``features``: the training split, its features, class weights, validation metrics;
* ``trainer``: ``StanceTrainer`` (layer-wise LR decay, R-Drop, distillation loss);
* ``distill``: teacher versions' soft targets for the train split, and the distillation loss;
* ``averaging``: the mean weights of the last epoch checkpoints;
* ``fine_tune``: the steps above in order, returning the training record.

The run around it (data preparation, evaluation, publishing a version) is
:func:`stance.pipeline.run_training`; this package does not import it.
"""

from stance.training.arguments import check_train_config, training_args
from stance.training.averaging import average_checkpoints
from stance.training.features import class_weights, compute_metrics_fn, encode_split, training_split
from stance.training.fine_tune import fine_tune
from stance.training.trainer import StanceTrainer, rdrop_kl

__all__ = [
    "StanceTrainer",
    "average_checkpoints",
    "check_train_config",
    "class_weights",
    "compute_metrics_fn",
    "encode_split",
    "fine_tune",
    "rdrop_kl",
    "training_args",
    "training_split",
]
