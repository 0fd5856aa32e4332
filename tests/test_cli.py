import json
import subprocess
import sys

import pytest
from PIL import Image

from guiapp.cli import main


def test_predict_json(cat_path, capsys):
    assert main(["predict", str(cat_path), "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out[str(cat_path)]
    assert len(top) == 5 and top[0]["name"] in ("Egyptian cat", "tiger cat", "tabby")


def test_attack_json_and_exit_code(cat_path, tmp_path, capsys):
    out = tmp_path / "o.png"
    rc = main(["attack", str(cat_path), "-t", "n01443537", "-o", str(out), "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["success"] and report["final_name"] == "goldfish" and out.exists()


def test_user_errors_are_one_line_exit_2(cat_path, tmp_path, capsys):
    assert main(["attack", str(cat_path), "-t", "crane", "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: label 'crane' is ambiguous") and "Traceback" not in err
    assert main(["attack", str(tmp_path / "missing.jpg"), "-t", "goldfish"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["attack", str(cat_path), "-t", "-1", "-o", str(tmp_path / "o.png")]) == 2
    assert "class index -1 is out of range 0..999" in capsys.readouterr().err  # was "unknown label '-1'"
    assert main(["attack", str(tmp_path / "missing.jpg"), "-t", "goldfish"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["attack", str(cat_path), "-t", "goldfish", "--eps", "-3"]) == 2
    # "bad default settings: ..." read as if the defaults were wrong
    assert "error: bad setting for the default mode: eps must be in (0, 255]" in capsys.readouterr().err


def test_attack_progress_counts_steps_without_a_misleading_total(cat_path, tmp_path, capsys):
    # The bar went to --steps (200) and stopped at "8/200 [00:20<08:21" when the target was reached.
    assert main(["attack", str(cat_path), "-t", "goldfish", "-o", str(tmp_path / "o.png"), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    # A count of steps, the most it may take said beside it (issue 33 item 12), no ETA to 200.
    assert "attack chelsea_cat.jpg: at most 200 steps\n" in err and " steps [" in err and "/200" not in err
    # the bar's own description is short (walked: at 80 columns it hid the count and the figures)
    assert "attack chelsea_cat.jpg: " in err.split("at most 200 steps\n", 1)[1]


def test_failed_attack_exits_1(cat_path, tmp_path, capsys):
    rc = main(["attack", str(cat_path), "-t", "goldfish", "-o", str(tmp_path / "o.png"),
               "--steps", "1", "--eps", "1", "-q"])
    assert rc == 1 and "FAILED" in capsys.readouterr().out


def test_labels_search(capsys):
    assert main(["labels", "corgi"]) == 0
    out = capsys.readouterr().out
    assert "Pembroke" in out and "Cardigan" in out
    assert main(["labels", "zzzzqqq"]) == 1


@pytest.mark.slow
def test_core_and_cli_never_import_qt():
    code = (
        "import sys, guiapp.core, guiapp.cli, guiapp.core.centroids, guiapp.core.pipeline;"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','shiboken6')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_raised_max_pixels_also_covers_the_reread_of_the_output(cat_path, tmp_path, capsys, monkeypatch):
    # A user who raises --max-pixels above the default to attack a large photo must not lose
    # the attack when the PNG is re-read for the check (that re-read used the default limit:
    # a 72-megapixel attack ran 90 s, then failed naming the output file).
    from guiapp.core import imageio

    monkeypatch.setattr(imageio.load_image, "__defaults__", (100_000,))  # the photo: 451x300 = 135_300 px
    out = tmp_path / "o.png"
    assert main(["attack", str(cat_path), "-t", "goldfish", "-o", str(out), "--max-pixels", "200000",
                 "--judge", "efficientnet-lite0", "--device", "cpu", "-q"]) == 0
    captured = capsys.readouterr()
    assert "over the limit" not in captured.err and out.exists()


def test_threads_default_to_one_and_can_be_set(cat_path, tmp_path, monkeypatch, capsys):
    """One torch thread per attack unless asked (a busy machine makes more much slower);
    --threads and GUIAPP_THREADS set it, a bad value is one line and exit 2."""
    import torch

    monkeypatch.delenv("GUIAPP_THREADS", raising=False)
    assert main(["predict", str(cat_path)]) == 0
    assert torch.get_num_threads() == 1
    try:
        assert main(["predict", str(cat_path), "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("GUIAPP_THREADS", "3")
        assert main(["predict", str(cat_path)]) == 0
        assert torch.get_num_threads() == 3
        monkeypatch.setenv("GUIAPP_THREADS", "many")
        capsys.readouterr()
        assert main(["predict", str(cat_path)]) == 2
        assert ("threads must be a whole number from 1 to 256, not 'many' (from GUIAPP_THREADS)"
                in capsys.readouterr().err)
        assert main(["predict", str(cat_path), "--threads", "0"]) == 2
    finally:
        torch.set_num_threads(1)


def test_ctrl_c_while_the_engine_imports_says_interrupted_not_a_traceback():
    # The console script imports guiapp.cli, then calls main(); torch and the engine used to
    # be imported at module level, before main()'s Ctrl-C handling, and an early Ctrl-C (25
    # of 32 tries in the first ~2 s) printed a traceback. A finder that raises
    # KeyboardInterrupt when torch is imported stands in for the keypress, deterministically.
    code = (
        "import sys\n"
        "import guiapp.cli as cli\n"
        "assert 'torch' not in sys.modules, 'guiapp.cli imports torch at module level'\n"
        "class CtrlC:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "sys.exit(cli.main(['labels']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == "interrupted"


def test_ctrl_c_early_in_a_real_run_exits_130_in_one_line(cat_path):
    import signal
    import time
    from pathlib import Path

    script = Path(sys.executable).with_name("guiapp-cli")
    proc = subprocess.Popen([str(script), "predict", str(cat_path), "--device", "cpu"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # Interrupt once torch is loading (its libraries are mapped): inside main(), in the imports
    # or the run after them (both must say one line); never during Python's own start-up.
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "libtorch" in maps.read_text():
                break
        except OSError:
            pytest.skip("no /proc on this system")
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        # Seen once in a full fresh-clone run and never alone: say what happened, for the log
        pytest.skip(f"predict finished before the interrupt took effect (stderr: {err.strip()[-300:]!r})")
    assert proc.returncode == 130 and "Traceback" not in err and err.strip().endswith("interrupted"), err


@pytest.mark.parametrize("level", [0, 255])
def test_a_black_or_white_image_gets_noise(tmp_path, capsys, level):
    # Found in a fault sweep: torch's clamp passes no gradient at 0 and 1 themselves, so a
    # pixel at exactly 0 or 255 never moved: a black or white photo came back unchanged
    # ("L-inf 0/255 ... FAILED"), and a photo's blown highlights never carried noise.
    import numpy as np
    from PIL import Image

    src, out = tmp_path / "flat.png", tmp_path / "flat_adv.png"
    Image.new("RGB", (224, 224), (level,) * 3).save(src)
    # (grey noise only, as for every grey photo: white needs ~50 steps, black ~10)
    rc = main(["attack", str(src), "-t", "goldfish", "--steps", "100", "-o", str(out), "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    changed = np.abs(np.asarray(Image.open(out).convert("RGB"), dtype=int) - level)
    assert rc == 0 and report["success"] and report["final_name"] == "goldfish"
    assert 0 < changed.max() <= 16 and (changed > 0).mean() > 0.1


def test_help_names_every_numbers_bounds_and_default(capsys):
    # Found in a fault sweep: serve's, batch's and centroids build's numbers showed neither,
    # predict's --top and --json had no help at all, and --threads passed the parser's
    # [1, 1024] only to be refused at 256 by the engine.
    import re

    def helped(*command):
        assert main([*command, "--help"]) == 0
        return re.sub(r"\s+", " ", capsys.readouterr().out)

    serve = helped("serve")
    assert "--max-queue MAX_QUEUE attacks waiting; beyond that 429 + Retry-After (in [0, 100000]; default 8)" in serve
    assert "--attack-timeout ATTACK_TIMEOUT seconds before a running attack is stopped (in (0, 604800]; " in serve
    assert "--threads N CPU threads per attack" in serve and "(in [1, 256])" in serve
    predict = helped("predict")
    assert "--top TOP how many classes to list per image (in [1, 1000]; default 5)" in predict
    assert "--json print" in predict
    assert "--k K KMeans centres per class (in [1, 100]; default 2)" in helped("centroids", "build")
    assert "(default 16, in (0, 255])" in helped("attack")  # the attack's flags say both themselves, once
    assert main(["predict", "x.png", "--threads", "257"]) == 2
    assert "must be in [1, 256], not 257" in capsys.readouterr().err


@pytest.mark.parametrize(("mode", "saved_mode"), [("L", "L"), ("LA", "LA"), ("RGB", "RGB")])
def test_a_grey_photo_gets_grey_noise_and_a_grey_file(cat_path, tmp_path, capsys, mode, saved_mode):
    # Found walking the app: a black-and-white photo got colour speckle (up to 8 levels
    # between R, G and B), the easiest noise to see on it, and came back as an RGB file.
    # Its noise is now one change added equally to R, G and B, and a grey file (L, or LA
    # with its alpha) is saved grey; a grey picture in an RGB file gets grey noise, in RGB.
    import numpy as np
    from PIL import Image

    grey = Image.open(cat_path).convert("L").resize((240, 180))
    src, out = tmp_path / f"grey_{mode}.png", tmp_path / f"grey_{mode}_adv.png"
    if mode == "LA":
        alpha = Image.linear_gradient("L").resize(grey.size)
        Image.merge("LA", (grey, alpha)).save(src)
    else:
        grey.convert(mode).save(src)
    rc = main(["attack", str(src), "-t", "goldfish", "-o", str(out), "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["success"] and report["final_name"] == "goldfish"
    with Image.open(out) as saved:
        assert saved.mode == saved_mode
        rgb = np.asarray(saved.convert("RGB"), dtype=int)
        if mode == "LA":
            assert np.array_equal(np.asarray(saved.getchannel("A")), np.asarray(alpha))
    assert (rgb.max(2) - rgb.min(2)).max() == 0  # no colour anywhere
    assert np.abs(rgb[..., 0] - np.asarray(grey, dtype=int)).max() > 0  # and noise there is


def test_top_level_help_and_version_answer_without_torch():
    """`guiapp-cli --help` took 11-13 s on a busy machine: it imported torch to list nine
    commands. It lists them from the command index now, the same as the full parser."""
    code = ("import sys; from guiapp.cli import main; rc = main(['--help']); "
            "print('TORCH', 'torch' in sys.modules, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "TORCH False 0" in out.stdout and "predict" in out.stdout and "centroids" in out.stdout
    from guiapp.cli.command_index import COMMANDS
    from guiapp.cli.parser import build_parser

    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)


def test_default_output_names_never_replace_each_other(cat_path, tmp_path, capsys):
    """README's examples in turn each replaced photo_adv_goldfish.png; the mode and a
    non-default budget are in the name now, and a name already taken gets _2."""
    from guiapp.core.attacks import make_config
    from guiapp.core.pipeline import output_tag

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(cat_path.read_bytes())
    for extra in ([], ["--budget", "perceptual"], []):
        assert main(["attack", str(photo), "-t", "goldfish", "--steps", "3", "--json", "-q", "--device", "cpu",
                     *extra]) in (0, 1)
        capsys.readouterr()
    names = sorted(p.name for p in tmp_path.glob("photo_adv_*.png"))
    assert names == ["photo_adv_goldfish.png", "photo_adv_goldfish_2.png", "photo_adv_goldfish_perceptual.png"]
    assert output_tag(make_config("robust")) == ["robust"]
    assert output_tag(make_config("transfer")) == ["transfer"]
    assert output_tag(make_config("transfer", preset="loud")) == ["transfer", "linf"]


def test_transfer_report_gives_each_surrogates_own_verdict(cat_path, tmp_path, capsys):
    """Issue 34 item 3 on the command line: 'surrogate: NAME sees ...' per model, read from
    the saved file, beside the ensemble's average in the result line."""
    rc = main(["attack", str(cat_path), "-t", "goldfish", "--mode", "transfer", "--iterations", "2",
               "--centroids", "none", "-o", str(tmp_path / "o.png"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    lines = [line for line in out.splitlines() if line.startswith("surrogate: ")]
    assert [line.split()[1] for line in lines] == ["efficientnet-lite0", "efficientnet-lite1"]
    assert all(" sees " in line and "target " in line for line in lines)
    source = next(line for line in out.splitlines() if line.startswith("source : "))
    assert source.endswith(", as the surrogates see it)")  # whose view of the original (walked: unclear)


def test_robust_report_says_what_the_result_survived(cat_path, tmp_path, capsys):
    """Issue 33 item 11: the robust result names every purifier and setting it was checked
    against, and where (the whole file, the model's view)."""
    small = tmp_path / "cat.png"
    Image.open(cat_path).convert("RGB").resize((96, 72)).save(small)
    rc = main(["attack", str(small), "-t", "tabby", "--robust", "--defences", "jpeg,bitdepth",
               "-o", str(tmp_path / "o.png"), "--device", "cpu", "--json"])
    report = json.loads(capsys.readouterr().out)
    said = [n for n in report["notes"] if n.startswith("survives ")]
    if rc == 0:
        assert said == ["survives jpeg quality 50/75/90, bitdepth bits 3/4/5, each on the whole file and on the "
                        "model's view (every setting checked on the saved image)"]
    else:
        assert not said  # nothing survived: nothing claimed


def test_a_long_file_name_is_shortened_in_the_progress_line():
    from guiapp.cli.text import short_name

    assert short_name("chelsea_cat.jpg") == "chelsea_cat.jpg"
    long = "n01440764_tench_Tinca_tinca_a_long_name.JPEG"
    cut = short_name(long)
    assert len(cut) == 28 and cut.startswith("n01440764_tenc") and cut.endswith("name.JPEG") and "…" in cut
