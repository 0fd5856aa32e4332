"""Property-based test of the HTTP form fields (issue 23): random values for every field of
/v1/attack against the in-process app.

Whatever the fields say, the answer is a PNG (200) or one of the documented client errors
(400, 413, 415, 422, and 403 victim_not_allowed: this server allows no query-mode victim)
as a JSON body with a message: never a 5xx. How long a step may take with the bounds a
client can reach is measured by bench/hardening.py, not asserted here (a busy machine is
no bug). Values are drawn per
field: inside and far outside the option's bounds, its choices and lists of them, NaN,
infinities, 5000-digit integers, empty and random text; the target is mostly valid so
that many examples run a real (short) attack.

Profiles as in test_fuzz_readers.py: "ci" (default; derandomized, 40 examples) and
"long" (random), chosen by HYPOTHESIS_PROFILE:

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_fuzz_serve.py --hypothesis-show-statistics
"""

from __future__ import annotations

import io
import os
import time
import warnings

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from guiapp.core.attacks import MODES, options_of
from guiapp.core.defences import DEFENCES
from guiapp.serve import ServeSettings
from guiapp.serve.app import create_app

_COMMON = dict(deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytestmark = pytest.mark.timeout(600)

DOCUMENTED = {200, 400, 403, 413, 415, 422}
SPECS = {s.name: s for mode in MODES for s in options_of(mode)}
FIELDS = ["target", "mode", "centroids", "steps", "refine-steps", "step-size", *SPECS]

_numbers = st.one_of(
    st.integers(-10**40, 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0x10", "1_000", "٣", " 7 ", "9" * 5000, "", "none"]),
)
_text = st.text(max_size=40)


def _defence_spec() -> st.SearchStrategy[str]:
    one = st.tuples(st.sampled_from([*DEFENCES, "ppgn", "blur"]),
                    st.sampled_from(["", ":quality=", ":size=", ":factor=", ":bits=", ":iterations=", ":bogus="]),
                    _numbers).map(lambda t: f"{t[0]}{t[1]}{t[2][:12] if t[1] else ''}")
    return st.lists(one, max_size=20).map(",".join)


def _value(name: str) -> st.SearchStrategy[str]:
    if name == "target":
        return st.one_of(st.sampled_from(["goldfish", "tiger cat", "1", "n01443537"]), _text, _numbers)
    if name == "mode":
        return st.one_of(st.sampled_from(MODES), _text)
    if name == "centroids":
        return st.one_of(st.sampled_from(["auto", "none", "/etc/passwd", "../x.npz"]), _text)
    spec = SPECS.get(name.replace("-", "_"), SPECS.get("max_steps" if name == "steps" else "refine_steps"))
    if name == "defences":
        return st.one_of(_defence_spec(), _text)
    if spec.kind is tuple:
        items = st.sampled_from(spec.meta.choices) if spec.meta.choices else _text
        return st.one_of(st.lists(items, max_size=20).map(",".join), _text)
    if spec.meta.choices:
        return st.one_of(st.sampled_from(spec.meta.choices), _text)
    low = spec.meta.low if spec.meta.low is not None else -1e6
    high = spec.meta.high if spec.meta.high is not None else 1e6
    inside = (st.integers(int(low), int(high)) if spec.kind is int else st.floats(low, high)).map(str)
    return st.one_of(inside, inside, _numbers, _text)


def _valid(name: str) -> st.SearchStrategy[str]:
    """A value inside the option's bounds or choices (its extremes often)."""
    spec = SPECS[name]
    if name == "defences":
        one = st.sampled_from(["rescale", "jpeg", "bitdepth", "median", "rescale:factor=0.01", "jpeg:quality=1",
                               "median:size=15", "bitdepth:bits=1", "jpeg:quality=100"])
        return st.lists(one, min_size=1, max_size=4, unique_by=lambda d: d.split(":")[0]).map(",".join)
    if spec.kind is tuple:
        return st.lists(st.sampled_from(spec.meta.choices), min_size=1, max_size=3, unique=True).map(",".join)
    if spec.meta.choices:
        return st.sampled_from(spec.meta.choices)
    low = spec.meta.low if spec.meta.low is not None else 0
    high = spec.meta.high if spec.meta.high is not None else 100
    if spec.kind is int:
        return st.one_of(st.sampled_from([int(low), int(high)]), st.integers(int(low), int(high))).map(str)
    floats = st.floats(low, high, exclude_min=spec.meta.low_open)
    return st.one_of(st.sampled_from([high]), floats).map(repr)


@st.composite
def valid_forms(draw) -> dict[str, str]:
    """A form of one mode with values its options accept: these run real attacks."""
    mode = draw(st.sampled_from(MODES))
    names = [s.name for s in options_of(mode) if not s.meta.counts_steps]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=6))
    fields = {"target": draw(st.sampled_from(["goldfish", "tiger cat", "1"])), "mode": mode}
    fields |= {n: draw(_valid(n)) for n in chosen}
    steps = "iterations" if mode in ("transfer", "query") else "steps"
    return fields | {steps: draw(st.sampled_from(["1", "2", "4"]))}


@st.composite
def wild_forms(draw) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from(FIELDS[1:]), unique=True, max_size=8))
    fields = {n: draw(_value(n)) for n in ["target", *names]}
    if draw(st.booleans()):
        # Short attacks: the server's step cap is 4, and the fuzz is about values, not time.
        for cap in ("steps", "iterations", "max_steps"):
            fields.setdefault(cap, "2")
    if draw(st.integers(0, 9)) == 0:
        fields[draw(_text)] = draw(_text)  # an unknown field (or a known one, given twice)
    return fields


forms = st.one_of(valid_forms(), wild_forms())


@pytest.fixture(scope="module")
def app_client(model):
    settings_ = ServeSettings(max_upload_mb=1, max_pixels=1_000_000, max_steps=4, job_ttl_s=60)
    with TestClient(create_app(settings_, model), base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture(scope="module")
def tiny(cat_path) -> bytes:
    buf = io.BytesIO()
    Image.open(cat_path).convert("RGB").resize((64, 48)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@given(fields=forms, use_junk=st.integers(0, 19), junk=st.binary(max_size=200))
def test_random_form_fields_get_a_documented_answer(app_client, tiny, fields, use_junk, junk):
    client = app_client
    data = junk if use_junk == 0 else tiny  # sometimes not an image at all
    r = client.post("/v1/attack", files={"image": ("x.jpg", data, "image/jpeg")},
                    data={k: v.replace("\0", "") for k, v in fields.items()})
    event(f"status {r.status_code}")
    assert r.status_code in DOCUMENTED, (fields, r.status_code, r.text[:500])
    if r.status_code != 200:
        body = r.json()
        assert body["error"] and body["message"] and len(body["message"]) <= 1000, body
        assert r.status_code != 403 or body["error"] == "victim_not_allowed", body
    end = time.monotonic() + 5  # the worker frees its slot just after the answer
    while client.get("/healthz").json()["queued_or_running"] and time.monotonic() < end:
        time.sleep(0.01)
    assert client.get("/healthz").json()["queued_or_running"] == 0
