"""Shapes of requests and answers, for the OpenAPI page at /docs.

The multipart bodies are parsed by hand (uploads.py, to enforce the byte limit while
streaming), so FastAPI cannot infer them; their schema is built here from the configs'
own fields, which keeps the documented options the accepted ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..core.attacks import MODES, options_of, presets_of
from ..core.options import OptionSpec


class ErrorBody(BaseModel):
    error: str  # machine-readable code: bad_label, too_large, queue_full...
    message: str
    candidates: list[dict[str, Any]] | None = None  # for bad_label: the closest classes


class Label(BaseModel):
    index: int
    wnid: str
    name: str
    synonyms: list[str]


class LabelList(BaseModel):
    query: str
    count: int
    labels: list[Label]


class PredictionOut(BaseModel):
    index: int
    name: str
    confidence: float


class PredictResult(BaseModel):
    model: str
    input: str
    predictions: list[PredictionOut]


class AttackJson(BaseModel):
    report: dict[str, Any]
    image_png_base64: str


class JobOut(BaseModel):
    id: str
    state: str  # queued, running, done, failed, cancelled
    input: str
    target: int
    target_name: str
    mode: str
    created: float
    started: float | None
    finished: float | None
    expires_at: float | None
    progress: dict[str, Any] | None  # step, max_steps, phase, target_conf, source_conf, linf, psnr, best_psnr
    report: dict[str, Any] | None
    error: dict[str, Any] | None
    image_url: str | None


class ModelInfo(BaseModel):
    name: str
    device: str
    fingerprint: str
    classes: int
    loaded: bool


class ModelList(BaseModel):
    models: list[ModelInfo]
    modes: list[str]  # "query" only when the operator allows victims
    victims: list[str]  # the victims a query-mode client may name: URL prefixes, or model specs exactly
    workers: int
    max_queue: int
    max_upload_mb: float
    max_pixels: int
    max_steps: int
    max_jobs: int
    max_disk_mb: float
    installed: list[str]  # models an attack may craft on (transfer surrogates): those on this machine


class Health(BaseModel):
    status: str
    model: str
    device: str
    queued_or_running: int
    uptime_s: float


def _json_type(spec: OptionSpec) -> dict[str, Any]:
    if spec.kind is tuple:
        return {"type": "string", "description": "comma-separated list"}
    kind = {bool: "boolean", int: "integer", float: "number"}.get(spec.kind, "string")
    bounds = {k: v for k, v in (("minimum", spec.meta.low), ("maximum", spec.meta.high)) if v is not None}
    return {"type": kind, **bounds, **({"enum": list(spec.meta.choices)} if spec.meta.choices else {})}


def attack_form_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "image": {"type": "string", "format": "binary", "description": "the image file (JPEG, PNG, WebP, BMP, TIFF)"},
        "target": {"type": "string", "description": "class name, synonym, WordNet id or index (GET /v1/labels?q=)"},
        "mode": {"type": "string", "enum": list(MODES), "default": "default"},
        "centroids": {"type": "string", "enum": ["auto", "none"], "default": "auto"},
        "preset": {"type": "string", "enum": sorted({p for m in MODES for p in presets_of(m)}),
                   "description": "named settings of the mode (transfer: quiet, the default, or loud: 16/255); "
                                  "options given explicitly win"},
        "steps": {"type": "integer", "description": "the CLI's --steps: max_steps"},
    }
    for mode in MODES:
        for spec in options_of(mode):
            if spec.name not in properties:
                properties[spec.name] = {**_json_type(spec), "description": f"{spec.meta.help}; option of mode {mode}"}
            else:
                properties[spec.name]["description"] += f", {mode}"
    return multipart_body(properties, ["image", "target"])


def predict_form_schema() -> dict[str, Any]:
    return multipart_body({"image": {"type": "string", "format": "binary"}}, ["image"])


def multipart_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {
                "schema": {"type": "object", "properties": properties, "required": required}}},
        }
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}
