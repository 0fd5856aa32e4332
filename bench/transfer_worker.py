"""A transfer attack worker for bench/transfer_speed.py's `--a-tree`: runs attacks with the
guiapp of another checkout (an older commit), so that the code of then and the code of now
are timed pair by pair in one run on the same machine.

    python bench/transfer_worker.py --tree /path/to/old/checkout [--options '{"iterations": 150}']

Reads one JSON object per line on stdin ({"image": path, "target": int, "out": png path}),
crafts with that checkout's transfer default (plus --options), one torch thread, writes
the 8-bit result as PNG and answers one JSON line: {"seconds", "cpu_seconds"}. Only the
API every commit since the strategies refactor has is used: make_config, load_surrogates,
surrogate_centroids, TransferAttack(...).steps(), load_image.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--options", default="{}")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    import torch
    from PIL import Image

    from guiapp.core.attacks import make_config
    from guiapp.core.attacks.centroid_terms import centroid_folder, surrogate_centroids
    from guiapp.core.attacks.transfer import TransferAttack, load_surrogates
    from guiapp.core.imageio import load_image

    torch.set_num_threads(1)
    config = make_config("transfer", **json.loads(args.options))
    surrogates = load_surrogates(config, "cpu")
    cents = surrogate_centroids(surrogates, config.centroid_layers_needed, centroid_folder("auto"))
    print(json.dumps({"ready": True, "tree": str(args.tree), "config": repr(config)}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        img = load_image(Path(job["image"])).rgb
        attack = TransferAttack(surrogates, img, int(job["target"]), config, cents)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in attack.steps():
            pass
        done = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
        Image.fromarray(attack.result.adversarial).save(job["out"])
        print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main()
