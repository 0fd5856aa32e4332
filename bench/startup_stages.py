"""Where `guiapp IMAGE`'s start-up seconds go: each stage timed in one process.

    python bench/startup_stages.py

The window's own modules (what it needs to show itself), then each module the start-up
worker imports (guiapp.gui.startup.ENGINE_MODULES), the two the GUI thread imports
after it (pyqtgraph, the studio), the model, the image, its first
classification; and, for comparison, two imports the app no longer does at start-up
(scipy.ndimage: only for SSIM; torchvision.models: the model list used it to name weight
files). Run it a few times: the first import after a reboot reads from disk.
"""

import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    rows = []

    def stage(name, fn):
        start = time.perf_counter()
        value = fn()
        rows.append((name, time.perf_counter() - start))
        return value

    window_modules = ("PySide6.QtWidgets", "guiapp.gui.app", "guiapp.gui.main_window")
    stage("PySide6 + the window's own modules", lambda: [importlib.import_module(m) for m in window_modules])
    from guiapp.gui.startup import ENGINE_MODULES

    for module, _ in ENGINE_MODULES:
        stage(f"import {module} (worker thread)", lambda module=module: importlib.import_module(module))
    for module in ("pyqtgraph", "guiapp.gui.studio"):
        stage(f"import {module} (GUI thread)", lambda module=module: importlib.import_module(module))
    stage("(scipy.ndimage: now only when SSIM is computed)", lambda: importlib.import_module("scipy.ndimage"))
    from guiapp.core.imageio import load_image
    from guiapp.core.models import load_model
    from guiapp.core.predict import predict_image

    model = stage("load efficientnet-lite0", lambda: load_model("efficientnet-lite0", "cpu"))
    image = stage("open the photo", lambda: load_image(ROOT / "resources" / "samples" / "chelsea_cat.jpg"))
    stage("classify it (the first forward pass)", lambda: predict_image(model, image))
    stage("(torchvision.models: no longer imported)", lambda: importlib.import_module("torchvision.models"))
    for name, seconds in rows:
        print(f"{seconds:6.2f} s  {name}")


if __name__ == "__main__":
    main()
