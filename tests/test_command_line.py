"""A run as a `guiapp-cli attack` line (the window's Copy as command): the CLI's own parser
reads the line back to the same mode, model, config, output and pixel limit."""

from __future__ import annotations

import shlex

import pytest

from guiapp.cli.attack_options import config_from_args
from guiapp.cli.parser import build_parser
from guiapp.core.attacks import make_config
from guiapp.core.command_line import attack_command


def parse(line: str):
    words = shlex.split(line)
    assert words[0] == "guiapp-cli"
    return build_parser().parse_args(words[1:])


@pytest.mark.parametrize("mode, preset, options", [
    ("default", None, {}),
    ("default", None, {"eps": 8.0, "max_steps": 57, "confidence": 0.25, "budget": "perceptual"}),
    ("robust", None, {"defences": ("jpeg", "rescale")}),
    ("transfer", "loud", {}),
    ("transfer", None, {"surrogates": ("efficientnet-lite1",), "iterations": 40, "min_ssim": 0.9625}),
    ("query", None, {"victim": "https://example.com/a b?x=1&y='2'", "max_queries": 7, "refine": "recraft"}),
])
def test_the_line_parses_back_to_the_same_run(mode, preset, options):
    config = make_config(mode, preset=preset, **options)
    line = attack_command("my photo.jpg", "golden retriever", config, output="out dir/x.png", max_pixels=1234)
    args = parse(line)
    assert str(args.image) == "my photo.jpg" and args.target == "golden retriever"
    assert str(args.output) == "out dir/x.png" and args.max_pixels == 1234
    assert config_from_args(args) == config


def test_the_model_is_named_where_it_crafts_and_defaults_are_left_out():
    config = make_config("default")
    assert attack_command("a.png", "goldfish", config) == "guiapp-cli attack a.png -t goldfish"
    line = attack_command("a.png", "goldfish", config, model="torchvision:resnet18")
    assert parse(line).model == "torchvision:resnet18"
    # The transfer mode names its models in --surrogates: a --model would only be ignored.
    assert "--model" not in attack_command("a.png", "goldfish", make_config("transfer"), model="x.onnx")
