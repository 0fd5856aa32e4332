"""`guiapp-cli serve`: the engine as a web API (FastAPI + uvicorn, the `[serve]` extra).

One model per process, loaded once; attacks run on a bounded pool of worker threads.
Modules: settings (limits, the no-open-port-without-token rule), app (routes), engine
(model work; memory and installed-model checks), jobs (state, progress, expiry, caps),
pool (bounded workers), uploads (streaming multipart under a byte limit, image header
checks), storage (the temp root, its byte budget, orphans of killed servers), options
(form fields -> config), guard (bearer token; origin and host checks without one), errors
(JSON errors, no server paths), schemas (OpenAPI shapes), server (uvicorn).

Only `settings` is imported here, so `guiapp-cli` starts without FastAPI installed.
"""

from .settings import ServeSettings

__all__ = ["ServeSettings"]
