"""README.md's runnable examples, run as written (issue 33 item 17).

Every ```sh block of README.md is run with bash, in order, in a folder laid out like a fresh
clone after README's set-up (`resources/` and `.venv` as links to this checkout's): each must
exit 0, write only under `out/` (which .gitignore names, so a clone's `git status` stays
clean), and leave `resources/` as it was. Blocks fenced ```text are templates (a user's own
file or URL) and are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def test_readme_has_runnable_examples_and_ignores_their_output():
    blocks = sh_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md lost its ```sh examples"
    assert any("guiapp-cli attack" in b for b in blocks)
    assert "/out/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.timeout(900)
def test_readme_examples_run_as_written(tmp_path):
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip("not running inside a virtual environment (README's set-up makes one)")
    (tmp_path / "resources").symlink_to(ROOT / "resources", target_is_directory=True)
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    resources_before = tree(ROOT / "resources")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    for block in sh_blocks(README.read_text(encoding="utf-8")):
        proc = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=850)
        assert proc.returncode == 0, f"README block failed:\n{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    # Only out/ was written (beside the two links), and resources/ is as it was.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".venv", "out", "resources"]
    assert tree(ROOT / "resources") == resources_before
    written = tree(tmp_path / "out")
    assert {"cat_goldfish.png", "cat_goldfish_transfer.png", "batch/report.csv"} <= set(written)
    rows = [line.split(",")[:3] for line in (tmp_path / "out" / "batch" / "report.csv").read_text().splitlines()[1:]]
    ok = sorted(name for name, _, status in rows if status == "ok")
    assert ok == ["astronaut.jpg", "chelsea_cat.jpg", "coffee.jpg", "rocket.jpg"]  # (and the folder's README skipped)
