"""A victim: a classifier we can only ask. It is an oracle and nothing more: it takes the
exact PNG bytes that would be saved and answers with scores over its labels, or with its
top label alone. Every question is counted.

- `ModelVictim`: any model spec, used only through its answers (its top k, as a hosted
  API would answer; k = 1 for a victim that says its top label only).
- `HttpVictim`: an http(s) URL that answers an uploaded image: the PNG is POSTed (multipart
  field `file` by default, or the raw body), with extra headers (an API key taken from an
  environment variable, never written in a command line), a timeout, a rate limit, and
  retries with backoff on 429 and 5xx. Its answers are understood in the common shapes
  (`parse_answer`), detected automatically or named.

Label strings in answers are mapped to the label list by the same search as a target
(exact names, synonyms, full synonym strings such as "goldfish, Carassius auratus").
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .errors import GuiappError, LabelError
from .labels import LabelSet
from .rate_gate import RateGate
from .victim_checks import check_model_spec

ANSWER_FORMATS = ("auto", "topk", "mapping", "scores", "label")
MAX_ANSWER_BYTES = 4 << 20  # a classifier's answer is small; a larger body is not one
MAX_TIMEOUT_S = 600.0
MAX_RETRIES = 10
WRAPPERS = ("predictions", "results", "result", "output", "outputs", "data", "top_k", "topk", "labels", "classes")
LABEL_KEYS = ("label", "class", "name", "class_name", "category", "top", "prediction")
SCORE_KEYS = ("score", "probability", "prob", "confidence", "p", "value")


class VictimError(GuiappError):
    """A victim that could not be asked or answered something we cannot read."""


class QueryBudgetExhausted(GuiappError):
    """The query budget is spent."""


@dataclass(frozen=True)
class Answer:
    """What the victim said about one image: its top class and the scores it gave (all of
    its classes, its top k, or none when it answers its top label only)."""

    top: int
    scores: dict[int, float] = field(default_factory=dict)
    # Labels the answer used that name several classes alike (ImageNet's two "crane"s): the
    # class it is keyed under -> every class the label names. The victim said one of them,
    # not which: none of them is said, nor scored.
    shared: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def unsure(self, index: int) -> bool:
        """Did the answer name `index` only by a label another class shares?"""
        return any(index in group for group in self.shared.values())

    def score(self, index: int) -> float | None:
        """The victim's score of a class (None when it did not say, or not which class)."""
        return None if self.unsure(index) else self.scores.get(index)

    def top_score(self) -> float | None:
        """The score of the victim's top label (whichever class it names)."""
        return self.scores.get(self.top)

    def says(self, index: int) -> bool:
        return self.top == index and not self.unsure(index)

    def name(self, index: int, labels: LabelSet) -> str:
        """A class of the answer by name ("crane (bird) or crane (machine)" for a shared label)."""
        group = self.shared.get(index)
        if group:
            return " or ".join(labels[i].name for i in group)
        return labels[index].name if 0 <= index < len(labels) else "?"


class Victim(ABC):
    """An oracle over `labels`, asked with PNG bytes; counts its questions and keeps every
    answer (the report lists them; a resumed batch repeats none)."""

    def __init__(self, labels: LabelSet, name: str, max_queries: int | None = None) -> None:
        self.labels = labels
        self.name = name
        self.max_queries = max_queries
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    @property
    def queries(self) -> int:
        return len(self.answers)

    def ask(self, png: bytes) -> Answer:
        with self._lock:
            if self.max_queries is not None and self.queries >= self.max_queries:
                raise QueryBudgetExhausted(f"the query budget of {self.max_queries} is spent")
        answer = self._ask(png)
        with self._lock:
            self.answers.append(answer)
        return answer

    @abstractmethod
    def _ask(self, png: bytes) -> Answer:
        """One question: the image's PNG bytes -> the victim's answer."""


class ModelVictim(Victim):
    """A model spec asked like a hosted classifier: its top `top_k` (1: the label only)."""

    def __init__(self, model: Any, top_k: int = 5, max_queries: int | None = None) -> None:
        super().__init__(model.labels, model.name, max_queries)
        self.model = model
        self.top_k = top_k

    def _ask(self, png: bytes) -> Answer:
        from .predict import classify_pil

        try:
            image = Image.open(io.BytesIO(png))
            image.load()
        except Exception as exc:  # noqa: BLE001 - the bytes are ours; say what went wrong
            raise VictimError(f"the victim could not read the image: {exc}") from exc
        probs = classify_pil(self.model, image.convert("RGB"))
        k = max(1, min(self.top_k, len(probs)))
        conf, idx = probs.topk(k)
        top = int(idx[0])
        if k == 1:
            return Answer(top)
        return Answer(top, {int(i): float(c) for c, i in zip(conf, idx, strict=True)})


@dataclass(frozen=True)
class HttpOptions:
    """How to ask a URL (every number bounded)."""

    field: str = "file"  # the multipart field of the image; "" sends the PNG as the raw body
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("Authorization", "Bearer $API_KEY"),)
    timeout_s: float = 30.0
    min_interval_s: float = 0.0  # the rate limit: at least this long between two questions
    retries: int = 3  # on 429, 5xx, timeouts and refused connections
    backoff_s: float = 1.0  # doubled after each retry (a Retry-After header wins)
    answer: str = "auto"  # ANSWER_FORMATS

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise GuiappError(f"victim timeout must be in (0, {MAX_TIMEOUT_S:.0f}] s, not {self.timeout_s}")
        if not 0 <= self.min_interval_s <= 3600:
            raise GuiappError(f"victim rate limit interval must be in [0, 3600] s, not {self.min_interval_s}")
        if not 0 <= self.retries <= MAX_RETRIES:
            raise GuiappError(f"victim retries must be in [0, {MAX_RETRIES}], not {self.retries}")
        if not 0 <= self.backoff_s <= 600:
            raise GuiappError(f"victim backoff must be in [0, 600] s, not {self.backoff_s}")
        if self.answer not in ANSWER_FORMATS:
            raise GuiappError(f"victim answer format must be one of {', '.join(ANSWER_FORMATS)}, not {self.answer!r}")


def header_from_env(text: str) -> tuple[str, str]:
    """'Name: value' with $VAR expanded from the environment (a key stays out of argv)."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise GuiappError(f"a victim header is 'Name: value' (value may use $VAR), not {text!r}")
    expanded = os.path.expandvars(value.strip())
    if "$" in expanded:
        raise GuiappError(f"victim header {name.strip()}: an environment variable in {value.strip()!r} is not set")
    return name.strip(), expanded


# Server errors a retry cannot change: the method or HTTP version is not supported there
# (a static file server answers a POST with 501). Said at once, not after the retries.
PERMANENT_5XX = (501, 505)


class HttpVictim(Victim):
    """A URL that classifies an uploaded image."""

    def __init__(self, url: str, labels: LabelSet, options: HttpOptions | None = None,
                 max_queries: int | None = None) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise GuiappError(f"a victim URL starts with http:// or https://, not {url[:60]!r}")
        super().__init__(labels, url, max_queries)
        self.url = url
        self.options = options or HttpOptions()
        # The rate limit holds across processes (a batch's workers ask one victim together).
        self._gate = RateGate(url, self.options.min_interval_s)

    def _request(self, png: bytes) -> urllib.request.Request:
        opts = self.options
        headers = dict(opts.headers)
        if opts.field:
            boundary = uuid.uuid4().hex
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{opts.field}\"; filename=\"image.png\"\r\n"
                    "Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        else:
            body = png
            headers["Content-Type"] = "image/png"
        headers.setdefault("Accept", "application/json")
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def _wait_turn(self) -> None:
        self._gate.wait()

    def _ask(self, png: bytes) -> Answer:
        opts = self.options
        delay = opts.backoff_s
        last_problem = ""
        for attempt in range(opts.retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            self._wait_turn()
            try:
                with urllib.request.urlopen(self._request(png), timeout=opts.timeout_s) as response:  # noqa: S310
                    body = response.read(MAX_ANSWER_BYTES + 1)
            except urllib.error.HTTPError as exc:
                last_problem = f"HTTP {exc.code} {exc.reason}"
                if exc.code == 429 or (exc.code >= 500 and exc.code not in PERMANENT_5XX):
                    retry_after = exc.headers.get("Retry-After") if exc.headers else None
                    if retry_after and retry_after.strip().isdigit():
                        delay = min(float(retry_after), 600.0)
                    continue
                raise VictimError(f"the victim {self.url} refused the image: {last_problem}") from exc
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last_problem = f"no answer ({reason})" if not isinstance(exc, TimeoutError) else \
                    f"no answer within {opts.timeout_s:g} s"
                continue
            if len(body) > MAX_ANSWER_BYTES:
                raise VictimError(f"the victim {self.url} answered more than {MAX_ANSWER_BYTES >> 20} MiB: "
                                  "not a classification")
            try:
                data = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise VictimError(f"the victim {self.url} answered something that is not JSON: "
                                  f"{body[:80]!r}") from exc
            return parse_answer(data, self.labels, opts.answer)
        raise VictimError(f"the victim {self.url} did not answer after {opts.retries + 1} tries: {last_problem}")


def parse_answer(data: Any, labels: LabelSet, fmt: str = "auto") -> Answer:
    """A classifier's JSON answer as an Answer. The shapes understood:

    - topk: a list of {"label": ..., "score": ...} (label keys: label, class, name...;
      score keys: score, probability, confidence...), the hosted top-k style;
    - mapping: {label: score, ...};
    - scores: a list of numbers, one per label (logits or probabilities);
    - label: the top label alone ("goldfish", {"label": "goldfish"}).

    Any of them may come wrapped in one object ({"predictions": [...]}). Labels may be a
    name, a synonym, a full synonym string or a class index.
    """
    data = _unwrap(data)
    kind = fmt if fmt != "auto" else _detect(data)
    try:
        if kind in ("topk", "mapping"):
            if kind == "topk":
                pairs = [_pair(item) for item in _as_list(data, "a list of {label, score} objects")]
            elif isinstance(data, dict) and data:
                pairs = [(label, _number(score)) for label, score in data.items()]
            else:
                raise VictimError("expected a {label: score} object")
            if not pairs:
                raise VictimError("the victim's answer lists no labels")
            scores, shared = {}, {}
            for label, score in pairs:
                index, group = _classes(label, labels)
                scores[index] = score
                if len(group) > 1:
                    shared[index] = group
            return Answer(max(scores, key=lambda i: scores[i]), scores, shared)
        if kind == "scores":
            values = [v if isinstance(v, (int, float)) else _not_a_score(v) for v in _as_list(data, "a list of scores")]
            values = [_number(v) for v in values]
            if len(values) != len(labels):
                raise VictimError(f"the victim answered {len(values)} scores for {len(labels)} labels")
            array = np.asarray(values)
            return Answer(int(array.argmax()), dict(enumerate(values)))
        if kind == "label":
            label = data
            if isinstance(data, dict):
                label = next((data[k] for k in LABEL_KEYS if k in data), None)
            if not isinstance(label, (str, int)) or isinstance(label, bool):
                raise VictimError("expected a label")
            index, group = _classes(label, labels)
            return Answer(index, {}, {index: group} if len(group) > 1 else {})
    except VictimError as exc:
        # A shape the user named that the answer does not have: say which one it looks like
        # (walked: "--victim-answers label" against a top-k victim read as a broken victim).
        seen = _detect(data) if fmt != "auto" else "unknown"
        hint = (f"; it looks like the {seen} shape: --victim-answers {seen} (victim_answers), or auto"
                if seen not in ("unknown", kind) else "")
        raise VictimError(f"the victim's answer is not a classification ({exc}): {_show(data)}{hint}") from None
    raise VictimError(f"the victim's answer is not a classification in a shape guiapp knows "
                      f"(topk, mapping, scores or label; the victim_answers option, --victim-answers, names one): "
                      f"{_show(data)}")


def _unwrap(data: Any) -> Any:
    for _ in range(3):
        if isinstance(data, dict) and len(data) == 1:
            key, value = next(iter(data.items()))
            if str(key).lower() in WRAPPERS and isinstance(value, (list, dict, str)):
                data = value
                continue
        break
    return data


def _detect(data: Any) -> str:
    if isinstance(data, (str, int)) and not isinstance(data, bool):
        return "label"
    if isinstance(data, list) and data:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
            return "scores"
        if all(isinstance(v, dict) for v in data):
            return "topk"
    if isinstance(data, dict) and data:
        if any(k in data for k in LABEL_KEYS) and not any(k in data for k in SCORE_KEYS):
            return "label"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()):
            return "mapping"
    return "unknown"


def _as_list(data: Any, what: str) -> list:
    if not isinstance(data, list):
        raise VictimError(f"expected {what}")
    return data


def _pair(item: Any) -> tuple[Any, float]:
    if not isinstance(item, dict):
        raise VictimError("expected {label, score} objects")
    label = next((item[k] for k in LABEL_KEYS if k in item), None)
    score = next((item[k] for k in SCORE_KEYS if k in item), None)
    if label is None or score is None:
        raise VictimError(f"an entry without a label or a score: {_show(item)}")
    return label, _number(score)


def _not_a_score(value: Any) -> float:
    raise VictimError(f"expected a list of numbers, one per label; an entry is {_show(value)}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VictimError(f"a score that is not a finite number: {_show(value)}")
    return float(value)


def _classes(label: Any, labels: LabelSet) -> tuple[int, tuple[int, ...]]:
    """The class an answer's label names, and every class it names alike (one, unless the
    label list has two classes of that very name: ImageNet's "crane")."""
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise VictimError(f"a label that is not text: {_show(label)}")
    try:
        index = labels.resolve(label, prefer_own=True)  # an answer names one class
        return index, (index,)
    except LabelError as exc:
        group = labels.same_name(label) if isinstance(label, str) else ()
        if len(group) > 1:  # named alike: the answer stands, without saying which one
            return group[0], group
        raise VictimError(f"a label not among the {len(labels)} classes: {_show(label)} ({exc})") from None


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def is_url(spec: str) -> bool:
    """Is a victim spec a URL (else a model spec)?"""
    return spec.strip().lower().startswith(("http://", "https://"))


def make_victim(spec: str, labels: LabelSet | None = None, options: HttpOptions | None = None,
                device: str | None = None, top_k: int = 5, max_queries: int | None = None) -> Victim:
    """An http(s) URL (its answers read against `labels`, ImageNet's by default) or a model
    spec used only through its answers."""
    if is_url(spec):
        from .labels import imagenet_labels

        return HttpVictim(spec.strip(), labels or imagenet_labels(), options, max_queries)
    check_model_spec(spec)  # an address without http:// is not a model file
    from .models import load_model

    return ModelVictim(load_model(spec, device), top_k, max_queries)
