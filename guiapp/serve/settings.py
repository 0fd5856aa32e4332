"""The server's settings, and the one rule checked before anything listens: no open
network port without a token."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from ..core.errors import GuiappError
from ..core.imageio import MAX_PIXELS

MIB = 1 << 20


@dataclass(frozen=True, kw_only=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # attacks running at once on the model's device
    max_queue: int = 8  # attacks waiting for a worker; one more is refused with 429
    token: str | None = None  # clients send "Authorization: Bearer <token>"
    max_upload_mb: float = 50.0  # whole request body, counted while it streams in
    max_pixels: int = MAX_PIXELS  # decompression guard, checked from the header
    max_steps: int = 1000  # most steps/iterations a client may ask for (keeps workers from being held for hours)
    attack_timeout_s: float = 600.0  # a running attack is cancelled after this long
    job_ttl_s: float = 900.0  # finished jobs (and their PNG) are forgotten after this long
    max_jobs: int = 256  # jobs kept (finished ones are forgotten oldest first to make room)
    max_disk_mb: float = 512.0  # the temp folder: uploads (also arriving ones) and PNGs of finished jobs
    centroids: str | None = "auto"  # server-side choice; clients may only switch the term off
    # The most memory one request may take (estimated from the image header, before
    # decoding, at the size the models process): a 34 KB strip PNG must not take 10 GB
    # because the machine happens to have it. Raised by the operator for large photos.
    max_request_mb: float = 2048.0
    # The query mode's victims a client may name (URL prefixes, model specs); none: the mode is
    # off, so the server never posts to a URL a client chose.
    allowed_victims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        finite = all(math.isfinite(v) for v in (self.max_upload_mb, self.attack_timeout_s, self.job_ttl_s,
                                                 self.max_disk_mb))
        checks = [
            (finite, "--max-upload-mb, --max-disk-mb, --attack-timeout and --job-ttl must be finite numbers"),
            (0 <= self.port <= 65535, "--port must be in 0..65535"),
            (self.workers >= 1, "--workers-per-device must be at least 1"),
            (self.max_queue >= 0, "--max-queue must be >= 0"),
            (self.max_upload_mb > 0, "--max-upload-mb must be > 0"),
            (64 <= self.max_request_mb <= 1e7, "--max-request-mb must be in 64..10000000"),
            (self.max_pixels > 0, "--max-pixels must be > 0"),
            (self.max_steps >= 1, "--max-steps must be at least 1"),
            (self.attack_timeout_s > 0, "--attack-timeout must be > 0"),
            (self.job_ttl_s > 0, "--job-ttl must be > 0"),
            (self.max_jobs > self.workers + self.max_queue,
             "--max-jobs must be more than the attacks running and queued (--workers-per-device + --max-queue)"),
            (self.max_disk_mb >= self.max_upload_mb, "--max-disk-mb must be at least --max-upload-mb"),
            (self.token is None or len(self.token) >= 8, "--token must be at least 8 characters"),
        ]
        for ok, message in checks:
            if not ok:
                raise GuiappError(message)

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * MIB)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MIB)

    @property
    def max_disk_bytes(self) -> int:
        return int(self.max_disk_mb * MIB)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(settings: ServeSettings) -> None:
    """Refuse to listen beyond this machine without a token: the server runs arbitrary
    uploads through a model and would otherwise be open to anyone on the network."""
    if settings.token is None and not is_loopback(settings.host):
        raise GuiappError(
            f"refusing to listen on {settings.host} without --token: anyone who can reach this machine "
            "could use the server. Pass --token SECRET (clients then send 'Authorization: Bearer SECRET') "
            "or keep the default --host 127.0.0.1."
        )
