"""The query mode's settings: the transfer mode's (every preset applies), plus the victim
and how many questions it may be asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..options import option
from ..victims import ANSWER_FORMATS, MAX_RETRIES, MAX_TIMEOUT_S
from .transfer_config import PRESETS as TRANSFER_PRESETS
from .transfer_config import TransferConfig

MAX_QUERIES = 10_000
MAX_VICTIM_TEXT = 2048  # a URL, a model spec or a header line: longer is not one

PRESETS: dict[str, dict[str, object]] = dict(TRANSFER_PRESETS)


@dataclass(frozen=True, kw_only=True)
class QueryConfig(TransferConfig):
    """A transfer attack steered by a victim's answers (query.py)."""

    mode: ClassVar[str] = "query"

    victim: str = option("", "the model to fool, used only through its answers: a model spec (a shipped name, a "
                         "file, torchvision:NAME, ...) or an http(s) URL that answers a POSTed PNG with its labels",
                         gui=True, label="Victim", placeholder="https://... or a model (efficientnet-lite2)")
    max_queries: int = option(20, "the most questions the victim may be asked for one image; 0 is the transfer "
                              "mode (nothing asked)", low=0, high=MAX_QUERIES, gui=True, label="Max queries")
    # How the victim is asked (a URL) or answers (a model spec).
    victim_top_k: int = option(5, "a model-spec victim answers its top k labels and scores, as a hosted API does; "
                               "1: its top label only", low=1, high=1000)
    victim_answers: str = option("auto", "the shape of a URL victim's answers: auto (detected), topk (a list of "
                                 "{label, score}), mapping ({label: score}), scores (a list over every class) or "
                                 "label (the top label only)", choices=ANSWER_FORMATS)
    victim_field: str = option("file", "the multipart field a URL victim reads the PNG from; 'raw' sends the PNG "
                               "as the request body")
    victim_header: str = option("", "an extra request header for a URL victim, 'Name: value'; the value may name "
                                "an environment variable ('Authorization: Bearer $API_KEY') so a key stays out "
                                "of the command line")
    victim_timeout: float = option(30.0, "seconds a URL victim may take to answer one question", unit="s", low=0,
                                   high=MAX_TIMEOUT_S, low_open=True)
    victim_interval: float = option(0.0, "rate limit: at least this many seconds between two questions", unit="s",
                                    low=0, high=3600)
    victim_retries: int = option(3, "retries of one question on 429, 5xx, timeouts and refused connections "
                                 "(with backoff; a Retry-After header wins)", low=0, high=MAX_RETRIES)
    # Each outer step of the search re-crafts from the current noise for this many
    # iterations on reweighted surrogates (BASES' perturbation machine), then asks once.
    step_iterations: int = option(10, "iterations on the surrogates between two questions in the search",
                                  low=1, high=500)
    # How the search moves once the victim scores the target (query.py). Re-crafting stays
    # the default: on the held-back pairs, patch proposals fooled Lite2 on 10 of the first 18
    # within 50 questions, re-crafting on 15 of 24 within 20 (docs/BENCHMARKS.md).
    refine: str = option("recraft", "how the search moves once the victim gives the target a score: recraft "
                         "(re-crafting the whole image on reweighted surrogates) or patches (a window of the noise "
                         "re-drawn from the surrogates' gradient, kept when the victim scores it better)",
                         choices=("recraft", "patches"))
    avoid_top: bool = option(True, "while the victim disagrees, push its own top class down on the surrogates "
                             "as well as raising the target (the class that beats the target there)")
    # An image the victim will not agree with at the budget may take a little more noise:
    # the search raises it by GROW_STEP_DB per question up to this, and stops the moment the
    # victim agrees, so easy images keep the budget (or less) and the median stays quiet.
    grow_db: float = option(2.0, "how far the search may raise the noise above the budget (dB of PSNR) while "
                            "the victim disagrees; 0 holds the budget", unit="dB", low=0, high=12)

    settle_queries: int = option(2, "once the victim agrees at the full budget or above, questions spent asking "
                                 "about less of that noise (90%, 80%, ... until it refuses); the quietest image it "
                                 "still agrees with is kept; 0: keep the first image it agrees with", low=0, high=20)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("victim", "victim_field", "victim_header"):
            if len(getattr(self, name)) > MAX_VICTIM_TEXT:
                raise ValueError(f"{name} is longer than {MAX_VICTIM_TEXT} characters")
        if self.max_queries > 0 and not self.victim.strip():
            raise ValueError("the query mode needs a victim: a model spec or an http(s) URL (the victim option; "
                             "--victim on the command line)")
        if self.shrink_margin is not None:
            raise ValueError("shrink_margin does not apply to the query mode: the victim's answers decide how much "
                             "noise is kept")
