"""Load test of `guiapp-cli serve`: a real server process, N concurrent httpx clients,
a seeded mix of good and bad requests.

    python bench/serve_load.py --requests 200 --concurrency 8 --size 96 --steps 4

Prints throughput, p50/p95 latency per kind of request, the status counts (every request
must get an answer, none a 5xx, every bad one its documented 4xx) and the server's RSS
after the first 20 requests and after all of them. Exits 1 if any check fails.

Images: ImageNet samples from ../shared/imagenet-samples (else resources/samples), resized
so the short side is --size px, attacked toward a seeded random other class.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "imagenet-samples"
SAMPLES = ROOT / "resources" / "samples"

MAX_RETRIES = 100
# kind -> (share of the mix, the status that is correct; 429 is retried, never final)
MIX = {
    "attack": (0.30, {200}),
    "job": (0.10, {200}),  # POST /v1/jobs, poll until done, GET image.png: one "request" here
    "predict": (0.20, {200}),
    "labels": (0.10, {200}),
    "bad_not_image": (0.06, {415}),
    "bad_corrupt": (0.06, {400}),
    "bad_label": (0.06, {422}),
    "bad_option": (0.06, {422}),
    "bad_too_large": (0.06, {413}),
}


@dataclass
class Result:
    kind: str
    status: int | None  # None: no answer (connection error or timeout)
    seconds: float
    error: str = ""
    success: bool = False  # an attack whose re-read PNG is classified as the target
    busy: int = 0  # 429 answers before the final one (the client waited Retry-After and retried)
    retry_after: float | None = None  # of a 429 answer


def load_images(size: int, count: int, seed: int) -> list[tuple[str, bytes, int]]:
    """(file name, JPEG bytes, target index) for `count` images, short side `size`."""
    files = sorted(p for p in SHARED.glob("n*_*.JPEG")) if SHARED.is_dir() else []
    rng = random.Random(seed)
    picks = rng.sample(files, min(count, len(files))) if files else sorted(SAMPLES.glob("*.jpg"))
    out = []
    for path in picks:
        img = Image.open(path).convert("RGB")
        scale = size / min(img.size)
        img = img.resize((max(32, round(img.width * scale)), max(32, round(img.height * scale))))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)
        out.append((name, buf.getvalue(), rng.randrange(1000)))
    return out


def corrupt(jpeg: bytes) -> bytes:
    """Header intact, entropy-coded data cut short: identified as a JPEG, fails to decode."""
    return jpeg[: len(jpeg) // 3]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Load:
    def __init__(
        self, url: str, images: list[tuple[str, bytes, int]], steps: int, upload_limit: int, seed: int
    ) -> None:
        self.url = url
        self.images = images
        self.steps = steps
        self.too_large = os.urandom(upload_limit + (256 << 10))
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.local = threading.local()

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.url, timeout=300)
        return self.local.client

    def plan(self, n: int) -> list[tuple[str, int]]:
        kinds = list(MIX)
        shares = [MIX[k][0] for k in kinds]
        return [(k, self.rng.randrange(len(self.images))) for k in self.rng.choices(kinds, shares, k=n)]

    def run(self, kind: str, image_index: int) -> Result:
        """One request as a polite client makes it: on 429 it waits Retry-After and retries."""
        start = time.perf_counter()
        busy = 0
        while True:
            result = self.send(kind, image_index, start)
            # A 429 without Retry-After would be a server bug: it ends up counted as unexpected.
            if result.status != 429 or result.retry_after is None or busy >= MAX_RETRIES:
                result.busy = busy
                return result
            busy += 1
            time.sleep(result.retry_after)

    def send(self, kind: str, image_index: int, start: float) -> Result:
        name, data, target = self.images[image_index]
        http = self.client()
        fields = {"target": str(target), "steps": str(self.steps)}
        try:
            if kind == "attack":
                r = http.post("/v1/attack", files={"image": (name, data, "image/jpeg")}, data=fields)
            elif kind == "job":
                r = http.post("/v1/jobs", files={"image": (name, data, "image/jpeg")}, data=fields)
                if r.status_code == 202:
                    job_url = r.headers["location"]
                    while (job := http.get(job_url).json())["state"] in ("queued", "running"):
                        time.sleep(0.2)
                    r = http.get(job["image_url"]) if job["state"] == "done" else http.get(job_url)
                    if r.status_code == 200:
                        http.delete(job_url)
            elif kind == "predict":
                r = http.post("/v1/predict", files={"image": (name, data, "image/jpeg")})
            elif kind == "labels":
                r = http.get("/v1/labels", params={"q": self.rng.choice(["cat", "crane", "golfish", "dog", "n015"])})
            elif kind == "bad_not_image":
                r = http.post("/v1/attack", files={"image": ("x.jpg", b"GIF? no: plain text")}, data=fields)
            elif kind == "bad_corrupt":
                r = http.post("/v1/attack", files={"image": (name, corrupt(data), "image/jpeg")}, data=fields)
            elif kind == "bad_label":
                r = http.post("/v1/attack", files={"image": (name, data, "image/jpeg")}, data={"target": "crane"})
            elif kind == "bad_option":
                r = http.post("/v1/attack", files={"image": (name, data, "image/jpeg")}, data={**fields, "eps": "-1"})
            elif kind == "bad_too_large":
                r = http.post("/v1/attack", files={"image": ("big.jpg", self.too_large, "image/jpeg")}, data=fields)
            else:
                raise ValueError(kind)
            success = r.headers.get("x-guiapp-success") == "true"
            retry = r.headers.get("retry-after", "")
            retry_after = float(retry) if r.status_code == 429 and retry.isdigit() else None
            return Result(kind, r.status_code, time.perf_counter() - start, success=success, retry_after=retry_after)
        except httpx.HTTPError as exc:
            return Result(kind, None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}")


def start_server(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    """The server with its output (the address line, then uvicorn's logs) in `log`: a pipe
    nobody reads would fill up and block the server's event loop on its next log line."""
    script = Path(sys.executable).with_name("guiapp-cli")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "guiapp.cli"]
    cmd += ["serve", "--port", "0", "--device", args.device, "--max-queue", str(args.max_queue),
            "--workers-per-device", str(args.workers), "--max-upload-mb", str(args.max_upload_mb)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    url = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"guiapp server on (http://\S+)", log.read_text())
        if found:
            url = found.group(1)
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    raise SystemExit(f"server did not start ({url or 'no address printed'}): {log.read_text()[-2000:]}")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--size", type=int, default=96, help="short side of the uploaded images (px)")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="attack step budget per request")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--max-upload-mb", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=20, help="RSS is also sampled after this many requests")
    args = parser.parse_args()

    images = load_images(args.size, args.images, args.seed)
    log = Path(tempfile.mkdtemp(prefix="serve-load-")) / "server.log"
    proc, url = start_server(args, log)
    print(f"server {url} pid {proc.pid}; {args.requests} requests, {args.concurrency} clients, "
          f"{len(images)} images (short side {args.size} px), {args.steps} steps per attack", flush=True)
    load = Load(url, images, args.steps, int(args.max_upload_mb * (1 << 20)), args.seed)
    rss_start = rss_mib(proc.pid)
    rss_first = float("nan")
    results: list[Result] = []
    done_lock = threading.Lock()

    def one(item: tuple[str, int]) -> Result:
        nonlocal rss_first
        result = load.run(*item)
        with done_lock:
            results.append(result)
            if len(results) == args.first:
                rss_first = rss_mib(proc.pid)
        return result

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(one, load.plan(args.requests)))
        wall = time.perf_counter() - start
        rss_end = rss_mib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(timeout=120)

    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)
    print(f"\n{'kind':15s} {'n':>4s} {'p50 s':>7s} {'p95 s':>7s}  statuses")
    for kind in MIX:
        rs = by_kind.get(kind, [])
        secs = [r.seconds for r in rs]
        statuses = Counter(r.status for r in rs)
        print(f"{kind:15s} {len(rs):4d} {pct(secs, 50):7.2f} {pct(secs, 95):7.2f}  "
              f"{dict(sorted(statuses.items(), key=str))}")
    all_secs = [r.seconds for r in results]
    unanswered = [r for r in results if r.status is None]
    server_errors = [r for r in results if r.status is not None and r.status >= 500]
    wrong = [r for r in results if r.status is not None and r.status not in MIX[r.kind][1]]
    attacks_done = sum(1 for r in results if r.kind in ("attack", "job") and r.status == 200)
    reached = sum(r.success for r in results)
    print(f"\n{len(results)} requests in {wall:.1f} s: {len(results) / wall:.2f} requests/s, "
          f"{attacks_done / wall:.2f} attacks/s ({reached} of {attacks_done} reached their target); "
          f"latency p50 {pct(all_secs, 50):.2f} s, p95 {pct(all_secs, 95):.2f} s")
    print(f"answered {len(results) - len(unanswered)}/{len(results)}, 5xx {len(server_errors)}, "
          f"unexpected status {len(wrong)}; 429 answers retried after Retry-After: {sum(r.busy for r in results)} "
          f"(in {sum(r.busy > 0 for r in results)} requests)")
    print(f"server RSS: {rss_start:.0f} MiB at start, {rss_first:.0f} MiB after {args.first} requests, "
          f"{rss_end:.0f} MiB after {len(results)} (+{rss_end - rss_first:.0f} MiB)")
    print(f"server exit code after SIGTERM: {exit_code} (log: {log})")
    for r in (unanswered + server_errors + wrong)[:10]:
        print(f"  problem: {r.kind} -> {r.status} {r.error}")
    ok = not unanswered and not server_errors and not wrong and exit_code == 0 and len(results) == args.requests
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
