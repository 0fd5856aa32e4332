"""The FastAPI application: routes only; the work is in engine.py, the checks in
guard.py (token, origin, host), uploads.py, options.py and engine.py (memory, models)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline

from .. import __version__
from ..core.attacks import MODES
from ..core.models import Classifier
from ..core.pipeline import default_output_path
from .engine import Engine
from .errors import ApiError, install_handlers, shutting_down
from .guard import RequestGuard
from .jobs import Job
from .options import label_json, parse_attack_fields
from .schemas import (
    AttackJson,
    Health,
    JobOut,
    LabelList,
    ModelList,
    PredictResult,
    attack_form_schema,
    error_responses,
    predict_form_schema,
)
from .settings import ServeSettings
from .uploads import Upload, check_image, receive_form

DESCRIPTION = """Targeted adversarial noise as a web API: upload an image and a label, get back
a PNG that looks the same but is classified as that label (checked on the saved 8-bit file).

Send `Authorization: Bearer <token>` when the server was started with `--token` (every
path but /healthz needs it, this page too). A server without a token answers localhost
only: requests naming another host, or sent by a web page of another site, get 403.
Errors are JSON: `{"error": code, "message": text}`."""
REAP_EVERY_S = 30.0
POLL_S = 0.1  # how often a waiting /v1/attack looks at its job
STOP_WAIT_S = 1.5  # at shutdown, how long to wait for an attack step in progress
UPLOAD_ERRORS = (400, 401, 403, 408, 413, 415, 422, 429, 503)  # 408: a stalled body


def create_app(settings: ServeSettings, model: Classifier) -> FastAPI:
    """The app for one loaded model. Start it with uvicorn (server.py) or TestClient."""
    engine = Engine(model, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        reaper = asyncio.create_task(reap_forever(engine))
        try:
            yield
        finally:
            reaper.cancel()
            # Cancels attacks (they stop at the end of their step) and waits a little for
            # them; server.py does not wait longer than that to exit.
            app.state.workers_idle = await run_in_threadpool(engine.stop, STOP_WAIT_S)

    # FastAPIOffline serves the /docs page's Swagger UI from the package, not from a CDN:
    # the server is meant for closed networks too, where a CDN page would stay blank.
    app = FastAPIOffline(title="guiapp", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.engine = engine
    install_handlers(app)
    # Before routing and before the body is read: the token, or the origin and host checks.
    app.add_middleware(RequestGuard, token=settings.token)
    v1 = APIRouter(prefix="/v1")

    async def receive_image(request: Request, pool_check: Callable[[], None]) -> tuple[Upload, Path, tuple[int, int]]:
        """Capacity first (no point reading 50 MB to answer 429), then the upload, then its
        header: (upload, its folder, the image's width and height)."""
        pool_check()
        workdir = engine.workdir()
        upload = None
        try:
            upload = await receive_form(request, workdir, settings.max_upload_bytes, engine.budget)
            if upload.image is None:
                raise ApiError(422, "missing_field",
                               "give the image file in the form field 'image' (curl -F image=@photo.jpg)")
            if upload.image_bytes == 0:
                raise ApiError(400, "bad_image", "the uploaded image is empty")
            size = await run_in_threadpool(check_image, upload.image, settings.max_pixels)
        except BaseException:
            discard(workdir, upload)
            raise
        return upload, workdir, size

    def discard(workdir: Path, upload: Upload | None) -> None:
        shutil.rmtree(workdir, ignore_errors=True)
        if upload is not None:
            engine.budget.release(upload.reserved)

    async def accept_attack(request: Request) -> Job:
        upload, workdir, (width, height) = await receive_image(request, engine.attacks.check_capacity)
        try:
            attack_request = parse_attack_fields(upload.fields, model.labels, settings.max_steps, model.name,
                                                 settings.allowed_victims)
            engine.check_attack(attack_request, width, height)  # models installed, memory: before queueing
            assert upload.image is not None
            return engine.submit_attack(attack_request, workdir, upload.image, upload.filename, upload.reserved)
        except BaseException:
            discard(workdir, upload)
            raise

    @v1.post(
        "/attack",
        summary="Attack an image; answers the adversarial PNG",
        response_class=Response,
        responses={
            200: {
                "content": {"image/png": {}, "application/json": {"schema": AttackJson.model_json_schema()}},
                "description": "The PNG, with the report as JSON in the X-Guiapp-Report header "
                "(or, with ?format=json, the report and the PNG in base64).",
            },
            **error_responses(*UPLOAD_ERRORS),
        },
        openapi_extra=attack_form_schema(),
    )
    async def attack(request: Request, format: Literal["png", "json"] = "png") -> Response:
        job = await accept_attack(request)
        try:
            await wait_for(job, request)
            return image_response(job, format)
        finally:
            engine.jobs.remove(job)

    @v1.post(
        "/jobs",
        status_code=202,
        response_model=JobOut,
        summary="Start an attack as a job (same fields as /v1/attack)",
        responses=error_responses(*UPLOAD_ERRORS),
        openapi_extra=attack_form_schema(),
    )
    async def create_job(request: Request) -> JSONResponse:
        job = await accept_attack(request)
        return JSONResponse(job.to_json(settings.job_ttl_s), 202, {"Location": f"/v1/jobs/{job.id}"})

    @v1.get("/jobs/{job_id}", response_model=JobOut, summary="State and progress of a job",
            responses=error_responses(401, 404))
    async def get_job(job_id: str) -> dict:
        return engine.jobs.get(job_id).to_json(settings.job_ttl_s)

    @v1.get(
        "/jobs/{job_id}/image.png",
        response_class=Response,
        summary="The adversarial PNG of a finished job",
        responses={200: {"content": {"image/png": {}}}, **error_responses(401, 404, 409)},
    )
    async def job_image(job_id: str) -> Response:
        job = engine.jobs.get(job_id)
        if job.state != "done":
            raise ApiError(409, "not_done", f"job {job_id} is {job.state}; the image exists once it is done",
                           state=job.state)
        return image_response(job, "png")

    @v1.delete("/jobs/{job_id}", summary="Cancel a job (or forget a finished one)", responses=error_responses(401, 404))
    async def delete_job(job_id: str) -> JSONResponse:
        job = engine.jobs.get(job_id)
        if job.is_finished:
            engine.jobs.remove(job)
            return JSONResponse({"id": job.id, "state": "deleted"})
        job.cancel()  # a running attack stops at its next stop point (core/stop_points.py)
        return JSONResponse(job.to_json(settings.job_ttl_s), 200 if job.is_finished else 202)

    @v1.post(
        "/predict",
        response_model=PredictResult,
        summary="Top-k classes of an image",
        responses=error_responses(*UPLOAD_ERRORS),
        openapi_extra=predict_form_schema(),
    )
    async def predict(request: Request, k: int = Query(5, ge=1, le=model.num_classes)) -> dict:
        upload, workdir, (width, height) = await receive_image(request, engine.predictions.check_capacity)
        try:
            engine.check_predict(width, height)  # memory, at the size the model processes: before decoding
            image = upload.image
            assert image is not None  # receive_image refused a form without one
            future = engine.predictions.submit(lambda: engine.predict(image, k))
            try:
                predictions = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                if future.cancelled():  # dropped from the queue by a shutdown
                    raise shutting_down() from None
                raise
        finally:
            discard(workdir, upload)
        return {"model": model.name, "input": upload.filename, "predictions": [p.__dict__ for p in predictions]}

    @v1.get("/labels", response_model=LabelList, summary="Search the classes (the GUI's matching)",
            responses=error_responses(401))
    async def labels(q: str = "", limit: int = Query(50, ge=1, le=model.num_classes)) -> dict:
        hits = model.labels.search(q)
        return {"query": q, "count": len(hits), "labels": [label_json(c) for c in hits[:limit]]}

    @v1.get("/models", response_model=ModelList, summary="The model this server runs, and its limits",
            responses=error_responses(401))
    async def models() -> dict:
        info = {"name": model.name, "device": str(model.device), "fingerprint": model.fingerprint,
                "classes": model.num_classes, "loaded": True}
        # The query mode is on only where the operator allows victims; those are the ones a
        # client may name (they are the operator's choice for clients, not a secret).
        modes = [m for m in MODES if m != "query" or settings.allowed_victims]
        return {"models": [info], "modes": modes, "victims": list(settings.allowed_victims),
                "workers": settings.workers, "max_queue": settings.max_queue,
                "max_upload_mb": settings.max_upload_mb, "max_pixels": settings.max_pixels,
                "max_steps": settings.max_steps, "max_jobs": settings.max_jobs, "max_disk_mb": settings.max_disk_mb,
                "installed": sorted(engine.installed())}

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, summary="Liveness (no token needed)", responses=error_responses(503))
    async def healthz() -> dict:
        if engine.root is None:
            raise shutting_down()
        return {"status": "ok", "model": model.name, "device": str(model.device),
                "queued_or_running": engine.attacks.pending, "uptime_s": time.time() - engine.started}

    return app


async def wait_for(job: Job, request: Request) -> None:
    """Wait until a job is finished for its client (a cancel, a timeout or a shutdown
    finish it at once, whatever step its worker is in); a client that hangs up cancels
    it, so no worker keeps computing for nobody."""
    polls = 0
    while not job.is_finished:
        await asyncio.sleep(POLL_S)
        polls += 1
        if polls % 10 == 0 and not job.is_finished and await request.is_disconnected():
            job.cancel()
            raise ApiError(503, "cancelled", "the client disconnected; the attack was cancelled")


def image_response(job: Job, format: str) -> Response:
    if job.state == "failed":
        assert job.error is not None
        raise job.error
    if job.state != "done":
        err = shutting_down()
        raise ApiError(503, "cancelled", "the attack was cancelled (the server is shutting down)", headers=err.headers)
    assert job.png is not None and job.report is not None
    png = job.png.read_bytes()
    if format == "json":
        return JSONResponse({"report": job.report, "image_png_base64": base64.b64encode(png).decode("ascii")})
    name = default_output_path(Path(job.filename), job.request.target_name, job.request.config).name
    headers = {
        # ASCII JSON: header values must be latin-1, class names are not always.
        "X-Guiapp-Report": json.dumps(job.report, separators=(",", ":"), allow_nan=False),
        "X-Guiapp-Success": "true" if job.report["success"] else "false",
        "Content-Disposition": content_disposition(name),
    }
    return Response(png, media_type="image/png", headers=headers)


def content_disposition(name: str) -> str:
    """`inline` with the PNG's name: an ASCII `filename` for every client, and the real one
    as RFC 6266's `filename*` when it is not ASCII (header values must be latin-1)."""
    plain = re.sub(r"[^\x20-\x7e]|[\"\\]", "_", name)
    if plain == name:
        return f'inline; filename="{name}"'
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


async def reap_forever(engine: Engine) -> None:
    while True:
        await asyncio.sleep(REAP_EVERY_S)
        engine.jobs.reap()
