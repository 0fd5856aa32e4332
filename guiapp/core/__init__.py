"""guiapp's engine: models, labels, image I/O, centroids, attacks, the pipeline, batch.

Qt-free by rule (a test enforces it): the CLI, scripts and the GUI all build on this.
"""

from .attack_report import AttackReport
from .attacks import (
    AttackConfig,
    AttackResult,
    RobustConfig,
    StepRecord,
    TargetedAttack,
    TransferAttack,
    TransferConfig,
    make_config,
)
from .errors import GuiappError
from .labels import imagenet_labels
from .models import DEFAULT_MODEL, Classifier, available_models, load_model
from .pipeline import AttackPlan, AttackRun, attack_file, plan_attack
from .predict import Prediction, predict_file, predict_image

__all__ = [
    "AttackConfig",
    "AttackPlan",
    "AttackReport",
    "AttackResult",
    "AttackRun",
    "Classifier",
    "DEFAULT_MODEL",
    "GuiappError",
    "Prediction",
    "RobustConfig",
    "StepRecord",
    "TargetedAttack",
    "TransferAttack",
    "TransferConfig",
    "attack_file",
    "available_models",
    "imagenet_labels",
    "load_model",
    "make_config",
    "plan_attack",
    "predict_file",
    "predict_image",
]
