"""A victim: a classifier we can only ask. It is an oracle and nothing more: it takes the
exact PNG bytes that would be saved and answers with scores over its labels, or with its
top label alone. Every question is counted.

- `ModelVictim`: any model spec, used only through its answers (its top k, as a hosted
  API would answer; k = 1 for a victim that says its top label only).
- `HttpVictim`: an http(s) URL that answers an uploaded image: the PNG is POSTed (multipart
  field `file` by default, or the raw body), with extra headers (an API key taken from an
  environment variable, never written in a command line), a timeout, a rate limit, and
  retries with backoff on 429 and 5xx. Its answers are understood in the common shapes
  (`parse_answer`, answer_shapes.py), detected automatically or named.

Label strings in answers are mapped to the label list by the same search as a target
(exact names, synonyms, full synonym strings such as "goldfish, Carassius auratus").
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from PIL import Image

from .answer_shapes import ANSWER_FORMATS, Answer, VictimError, parse_answer
from .errors import GuiappError
from .labels import LabelSet
from .rate_gate import RateGate
from .victim_checks import check_model_spec

MAX_ANSWER_BYTES = 4 << 20  # a classifier's answer is small; a larger body is not one
MAX_TIMEOUT_S = 600.0
MAX_RETRIES = 10


class QueryBudgetExhausted(GuiappError):
    """The query budget is spent."""


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
