"""Folder processing: attack every image of a tree, mirror it as PNGs, keep a journal and a report.

- runner.py: BatchRunner, the driver (plan the folder, resume, hand out tasks, journal);
- task.py: one image's task (TaskRunner over the attack pipeline) and the settings key;
- executors.py / ray_executor.py: where tasks run (this thread, N processes, Ray actors);
- journal.py: the SQLite journal; report.py: report.csv / report.json from it;
- resume.py: which earlier results may be kept; outdir.py: the folder lock and temp files;
- targets.py: one label, a targets CSV, or seeded random targets.
"""

from ..labels import random_target
from .outdir import BatchLockedError, OutputLock
from .report import REPORT_CSV, REPORT_JSON, BatchSummary
from .resume import SettingsChangedError
from .runner import BatchProgress, BatchRunner, BatchStoppedError, OutputInsideInputError
from .targets import TargetSpec, read_targets_csv
from .task import BatchRow

__all__ = [
    "BatchLockedError",
    "BatchProgress",
    "BatchRow",
    "BatchRunner",
    "BatchStoppedError",
    "BatchSummary",
    "OutputInsideInputError",
    "OutputLock",
    "REPORT_CSV",
    "REPORT_JSON",
    "SettingsChangedError",
    "TargetSpec",
    "random_target",
    "read_targets_csv",
]
