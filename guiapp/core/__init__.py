"""guiapp's engine: models, labels, image I/O, centroids, the attack, metrics, batch.

Qt-free by rule (a test enforces it): the CLI, scripts and the GUI all build on this.
"""

from .api import AttackReport, Prediction, attack_file, predict_file, predict_image
from .attack import AttackConfig, AttackResult, StepRecord, TargetedAttack
from .errors import GuiappError
from .labels import imagenet_labels
from .models import DEFAULT_MODEL, Classifier, available_models, load_model
from .transfer import TransferAttack, TransferConfig

__all__ = [
    "AttackConfig",
    "AttackReport",
    "AttackResult",
    "Classifier",
    "DEFAULT_MODEL",
    "GuiappError",
    "Prediction",
    "StepRecord",
    "TargetedAttack",
    "TransferAttack",
    "TransferConfig",
    "attack_file",
    "available_models",
    "imagenet_labels",
    "load_model",
    "predict_file",
    "predict_image",
]
