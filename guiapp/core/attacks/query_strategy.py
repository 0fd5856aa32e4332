"""The query mode as a strategy of the shared pipeline: the transfer mode's surrogates and
memory, plus a victim asked once per outer step (query.py). Success is the victim's own
answer to the saved pixels, never the surrogates'."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import numpy as np
import torch

from ..errors import GuiappError
from ..models import Classifier
from ..victim_checks import check_reachable
from ..victims import HttpOptions, Victim, header_from_env, is_url, make_victim
from .base import AttackLoop, AttackResult
from .query import LADDER, QueryAttack
from .query_config import PRESETS, QueryConfig
from .transfer_strategy import TransferStrategy


def http_options(config: QueryConfig) -> HttpOptions:
    """How to ask a URL victim, from the config."""
    headers = (header_from_env(config.victim_header),) if config.victim_header.strip() else ()
    return HttpOptions(field="" if config.victim_field == "raw" else config.victim_field, headers=headers,
                       timeout_s=config.victim_timeout, min_interval_s=config.victim_interval,
                       retries=config.victim_retries, answer=config.victim_answers)


def victim_of(config: QueryConfig, crafters: list[Classifier], device: Any = None) -> Victim:
    """A fresh victim for one image (its own question count), answering over its labels: a
    model's own, or for a URL the first surrogate's (the names it answers are searched there)."""
    return make_victim(config.victim, crafters[0].labels, http_options(config), device=device,
                       top_k=config.victim_top_k, max_queries=config.max_queries)


class QueryStrategy(TransferStrategy):
    mode = "query"
    config_type: ClassVar[type] = QueryConfig
    summary = ("Fool a model you can only ask (a URL or a model spec): crafted on the surrogates as in transfer "
               "mode, steered by the victim's answers; success is the victim's own answer to the saved PNG.")
    presets = PRESETS
    batches_images = False  # every image has its own questions, asked in turn

    def load_crafters(self, config: Any, model: Classifier | str, device: Any, weights: Any) -> list[Classifier]:
        crafters = super().load_crafters(config, model, device, weights)
        if config.max_queries <= 0:
            return crafters
        # A victim that cannot be asked fails before any work (crafting takes a while): made
        # once here (an unset $VAR in its header, an address without http://, a model that will
        # not load: the per-image victims reuse the loaded model), and a URL nobody answers at.
        victim_of(config, crafters, crafters[0].device)
        if is_url(config.victim):
            check_reachable(config.victim, config.victim_timeout)
        return crafters

    def step_budget(self, config: Any) -> int:
        return int(config.iterations) + len(LADDER) + int(config.max_queries) * (int(config.step_iterations) + 1)

    def stops_early(self, config: Any) -> bool:
        return config.max_queries > 0

    def budget_text(self, config: Any) -> str:
        # The bare total (crafting + ladder + every question's re-crafting) read as opaque to
        # a new user: name its parts, the usual run ending after the first few questions.
        return (f"{config.iterations} crafting steps, then at most {config.max_queries} questions of "
                f"{int(config.step_iterations) + 1} steps each; {self.step_budget(config)} steps at most")

    def build(self, config: Any, crafters: list[Classifier], image: np.ndarray, target: int, source: int,
              centroids: Any) -> AttackLoop:
        # No questions allowed: nobody is asked (and the victim is not even loaded).
        victim = victim_of(config, crafters, crafters[0].device) if config.max_queries > 0 else None
        return QueryAttack(crafters, image, target, config, centroids, source, victim)

    def saved_success(self, plan: Any, result: AttackResult, crafter_probs: list[torch.Tensor],
                      targets: list[int], pixels: np.ndarray) -> bool:
        # The victim's answer holds for the file only if it holds the pixels it was asked about.
        return result.success and bool(np.array_equal(pixels, result.adversarial))

    def describe(self, config: Any) -> str:
        victim = config.victim if len(config.victim) <= 60 else config.victim[:57] + "..."
        n = config.max_queries
        return f"query {victim} (at most {n} question{'' if n == 1 else 's'}), {super().describe(config)}"

    def advice(self, config: Any) -> str:
        return "allow more questions (Max queries), or try more iterations or a lower Budget PSNR (more visible)"

    def failure_text(self, config: Any, steps: int, final_name: str) -> str:
        n = config.max_queries
        return f"the victim did not see the target within {n} question{'' if n == 1 else 's'}"


def check_victim_allowed(victim: str, allowed: tuple[str, ...]) -> None:
    """A server's rule: a client's victim must be one its operator allowed (a URL starting
    with an allowed prefix, or a model spec named exactly); none allowed: the mode is off."""
    if not allowed:
        raise GuiappError("the query mode is off on this server: its operator allows no victims "
                          "(guiapp-cli serve --allow-victim URL_PREFIX_OR_MODEL)")
    text = victim.strip()
    if not any(_url_under(text, a) if is_url(a) else text == a for a in allowed):
        raise GuiappError(f"victim {text[:80]!r} is not one this server's operator allows")


def _url_under(url: str, allowed: str) -> bool:
    """`url` is on the allowed URL's scheme and host (exactly) and under its path: an
    allowed http://host/api never lets http://host.evil/ or http://host/apix through."""
    u, a = urlsplit(url), urlsplit(allowed)
    if (u.scheme.lower(), u.netloc.lower()) != (a.scheme.lower(), a.netloc.lower()):
        return False
    # "." and ".." segments (plain or percent-encoded) are refused outright: servers and proxies
    # collapse them, so http://host/api/../admin would reach /admin (walked: it was posted to).
    if any(segment in (".", "..") for segment in unquote(u.path).split("/")):
        return False
    base = a.path.rstrip("/")
    return u.path == base or u.path.startswith(base + "/")
