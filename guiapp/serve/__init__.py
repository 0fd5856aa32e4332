"""`guiapp-cli serve`: the engine as a web API (FastAPI + uvicorn, the `[serve]` extra).

One model per process, loaded once; attacks run on a bounded pool of worker threads.
Modules: settings (limits, the no-open-port-without-token rule), app (routes), engine
(model work), jobs (state, progress, expiry), pool (bounded workers), uploads (streaming
multipart under a byte limit, image header checks), options (form fields -> config),
auth (bearer token), errors (JSON errors), schemas (OpenAPI shapes), server (uvicorn).

Only `settings` is imported here, so `guiapp-cli` starts without FastAPI installed.
"""

from .settings import ServeSettings

__all__ = ["ServeSettings"]
