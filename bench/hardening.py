"""The bars of issue 23 (reliability and security of the server, batch and the CLI), measured.

    python bench/hardening.py                      # everything (~10 min on 2 busy cores)
    python bench/hardening.py --only memory,junk   # some sections

memory  60000x32 and 20000x32 PNGs (a few KB each): peak memory that predict and a default
        attack (2 steps) add, against the estimate, through the CLI (a child process per
        run, its peak counter reset after the model is loaded) and over HTTP (a real server,
        its peak counter reset before each request). Bar: within 1.3x of the estimate, or
        refused before decoding.
cancel  The worst settings a client may send for one step (transfer, TI kernel 31 on a
        2000x2000 image, DI at its maximum): how long one iteration takes, how soon a
        cancel reaches the client, when the worker is free again, how late --attack-timeout
        fires, how long SIGTERM takes to exit. Bar: a cancel or SIGTERM within 5 s.
junk    40 junk 10 MiB jobs (a valid PNG header, then noise: they fail when decoded), sent
        one by one and 8 at a time: the server's temp folder, sampled every 0.1 s. Bar: back
        to its size within 5 s of their failure.
checks  seed=10**30 over HTTP and from the CLI and batch; a cross-origin form POST; a batch
        with a broken file: report.json through a strict parser, and its lock file.
round4  Issue 33's sweep: a 1,000,000x32 PNG (34 KB) to /v1/predict and /v1/attack under the
        default --max-request-mb (the server's peak memory); three uploads that declare
        20 MB and send a byte every 2 s, and a normal request beside them; a robust job
        with Deep Image Prior (5000 iterations, view) cancelled while it checks; a
        truncated output PNG and a resumed batch; `guiapp-cli --help`.

Every server runs as `python -m guiapp.cli serve --device cpu` with a private TMPDIR.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from guiapp.serve.storage import tree_bytes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
MIB = 2**20
STRIPS = [(60000, 32), (20000, 32)]


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next(line.split()[1] for line in meminfo if line.startswith("MemTotal"))
    load = os.getloadavg()[0]
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {int(mem) / 2**20:.0f} GiB RAM, "
            f"load {load:.1f} at start, torch 1 thread per attack, CPU only")


def _kib(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def strip_file(folder: Path, width: int, height: int) -> Path:
    from _imagefiles import strip_png

    path = folder / f"strip_{width}x{height}.png"
    path.write_bytes(strip_png(width, height))
    return path


def estimates(width: int, height: int) -> dict[str, int]:
    from guiapp.core.attacks import AttackConfig
    from guiapp.core.memory import Footprint, predict_bytes
    from guiapp.core.models import input_spec
    from guiapp.core.pipeline import memory_estimate

    return {"predict": predict_bytes(Footprint.of(width, height, [input_spec("efficientnet-lite0")])),
            "attack": memory_estimate(AttackConfig())(width, height)}


# -- memory -----------------------------------------------------------------------------


def cli_child(path: str, op: str) -> None:
    """Runs in a child: the CLI command on `path`, its peak memory over what the loaded model uses."""
    from guiapp.cli import main
    from guiapp.core import load_model

    load_model("efficientnet-lite0", "cpu")  # cached: the CLI's own load_model is then free
    Path("/proc/self/clear_refs").write_text("5")
    base = _kib("self", "VmRSS")
    started = time.perf_counter()
    argv = [op, path, "--device", "cpu"] + (["-t", "goldfish", "--steps", "2", "-q", "-o", path + ".adv.png"]
                                            if op == "attack" else [])
    rc = main(argv)
    print(json.dumps({"rc": rc, "extra": (_kib("self", "VmHWM") - base) * 1024,
                      "seconds": time.perf_counter() - started}))


def start_server(log: Path, temp: Path, *args: str) -> tuple[subprocess.Popen, str]:
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "guiapp.cli", "serve", "--port", "0", "--device", "cpu", *args],
                                stdout=out, stderr=subprocess.STDOUT, env={**ENV, "TMPDIR": str(temp)}, cwd=ROOT)
    end = time.monotonic() + 180
    while time.monotonic() < end and proc.poll() is None:
        found = re.search(r"guiapp server on (http://127\.0\.0\.1:\d+) ", log.read_text())
        if found:
            try:
                if httpx.get(found.group(1) + "/healthz", timeout=5).status_code == 200:
                    return proc, found.group(1)
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start: {log.read_text()}")


def stop_server(proc: subprocess.Popen) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - started


def _row(how: str, op: str, size: str, status: str, extra: int | None, estimate: int, seconds: float) -> None:
    if extra is None:
        print(f"  {how:4s} {op:7s} {size:9s} {status:28s} estimate {estimate / MIB:6.0f} MiB  ({seconds:.1f} s)")
        return
    ratio = extra / estimate
    verdict = "OK" if ratio <= 1.3 else "OVER 1.3x"
    print(f"  {how:4s} {op:7s} {size:9s} ran: peak +{extra / MIB:6.0f} MiB  estimate {estimate / MIB:6.0f} MiB  "
          f"ratio {ratio:4.2f} {verdict}  ({seconds:.1f} s)")


def post_strip(proc: subprocess.Popen, url: str, op: str, data: bytes) -> tuple[httpx.Response, int, float]:
    """POST a strip PNG to /v1/{op}: the response, the server's peak memory added during
    it (bytes; its peak counter reset first) and the seconds it took."""
    Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
    base = _kib(proc.pid, "VmRSS")
    started = time.monotonic()
    r = httpx.post(f"{url}/v1/{op}", files={"image": ("strip.png", data, "image/png")},
                   data={"target": "goldfish", "steps": "2"} if op == "attack" else {}, timeout=600)
    seconds = time.monotonic() - started
    return r, (_kib(proc.pid, "VmHWM") - base) * 1024, seconds


def memory_section(work: Path) -> None:
    print("memory: peak memory added by the command or request, against the estimate (bar: <= 1.3x, or refused)")
    for width, height in STRIPS:
        path = strip_file(work, width, height)
        est = estimates(width, height)
        for op in ("predict", "attack"):
            out = subprocess.run([sys.executable, __file__, "--child", f"{path}:{op}"], capture_output=True,
                                 text=True, env=ENV, cwd=ROOT)
            lines = out.stdout.strip().splitlines()
            if not lines:
                raise SystemExit(out.stderr)
            row = json.loads(lines[-1])
            refused = row["rc"] == 2 and "memory" in out.stderr
            _row("CLI", op, f"{width}x{height}", "refused before decoding" if refused else "",
                 None if refused else row["extra"], est[op], row["seconds"])
    temp = work / "tmp-memory"
    temp.mkdir()
    proc, url = start_server(work / "memory-server.log", temp, "--max-upload-mb", "5")
    try:
        for width, height in STRIPS:
            data = (work / f"strip_{width}x{height}.png").read_bytes()
            est = estimates(width, height)
            for op in ("predict", "attack"):
                r, extra, seconds = post_strip(proc, url, op, data)
                if r.status_code == 413:
                    _row("HTTP", op, f"{width}x{height}", "refused before decoding (413)", None, est[op], seconds)
                else:
                    assert r.status_code == 200, r.text
                    _row("HTTP", op, f"{width}x{height}", "", extra, est[op], seconds)
    finally:
        stop_server(proc)


# -- cancel -------------------------------------------------------------------------------

WORST = {"target": "goldfish", "mode": "transfer", "surrogates": "efficientnet-lite0", "ti_kernel": "31",
         "iterations": "1000", "diversity": "1", "di_scale": "2", "momentum": "10", "centroids": "none"}


def _gradient_png(width: int, height: int) -> bytes:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    buf = io.BytesIO()
    Image.fromarray(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _wait(http: httpx.Client, job_id: str, test, timeout: float = 900) -> tuple[dict, float]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if test(job):
            return job, time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"job {job_id} never got there: {job}")


def _idle(http: httpx.Client, timeout: float = 900) -> float:
    end = time.monotonic() + timeout
    while http.get("/healthz").json()["queued_or_running"] and time.monotonic() < end:
        time.sleep(0.05)
    return time.monotonic()


def cancel_section(work: Path, side: int) -> None:
    print(f"cancel: the worst settings for one step, on a {side}x{side} image: {WORST}")
    files = {"image": ("big.png", _gradient_png(side, side), "image/png")}
    temp = work / "tmp-cancel"
    temp.mkdir()
    proc, url = start_server(work / "cancel-server.log", temp, "--max-upload-mb", "20")
    try:
        http = httpx.Client(base_url=url, timeout=600)
        job = http.post("/v1/jobs", files=files, data={**WORST, "iterations": "1"}).json()
        _, running = _wait(http, job["id"], lambda j: j["state"] != "queued")
        final, ended = _wait(http, job["id"], lambda j: j["state"] != "running")
        print(f"  one iteration, planning and saving included: {ended - running:.1f} s ({final['state']})")
        http.delete(f"/v1/jobs/{job['id']}")  # forget it: its PNG goes
        # a cancel while the job plans (2 s in) and in the middle of its first iteration (12 s in)
        for delay in (2.0, 12.0):
            job = http.post("/v1/jobs", files=files, data=WORST).json()
            _wait(http, job["id"], lambda j: j["state"] == "running")
            time.sleep(delay)
            started = time.monotonic()
            state = http.delete(f"/v1/jobs/{job['id']}").json()["state"]
            seen = time.monotonic() - started
            free = _idle(http)
            print(f"  DELETE {delay:g} s into the run: '{state}' for the client in {seen:.2f} s; the worker was free "
                  f"{free - started:.1f} s later (its next stop point); files left in the temp folder: "
                  f"{tree_bytes(temp)} bytes")
        # SIGTERM in the middle of an iteration
        job = http.post("/v1/jobs", files=files, data=WORST).json()
        _wait(http, job["id"], lambda j: j["state"] == "running")
        time.sleep(2.0)
        took = stop_server(proc)
        log = (work / "cancel-server.log").read_text().strip().splitlines()
        print(f"  SIGTERM during an iteration: exit status {proc.returncode} after {took:.2f} s "
              f"({log[-1]!r}); temp roots left: {len(list(temp.glob('guiapp-serve-*')))}")
    finally:
        if proc.poll() is None:
            stop_server(proc)
    # --attack-timeout: the job fails for its client on time, inside an iteration
    proc, url = start_server(work / "timeout-server.log", temp, "--max-upload-mb", "20", "--attack-timeout", "5")
    try:
        http = httpx.Client(base_url=url, timeout=600)
        job = http.post("/v1/jobs", files=files, data=WORST).json()
        _, running = _wait(http, job["id"], lambda j: j["state"] != "queued")
        final, failed = _wait(http, job["id"], lambda j: j["state"] != "running")
        free = _idle(http)
        print(f"  --attack-timeout 5: {final['state']} ({final['error']['error']}) {failed - running:.1f} s after it "
              f"started; the worker was free {free - running:.1f} s after the start")
    finally:
        stop_server(proc)


# -- junk ---------------------------------------------------------------------------------


def junk_png(size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "PNG")
    return buf.getvalue()[:33] + struct.pack(">I", size) + b"IDAT" + os.urandom(size) + b"\0\0\0\0"


def junk_section(work: Path) -> None:
    print("junk: junk jobs; the server's temp folder (bar: back to its size within 5 s of their failure)")
    temp = work / "tmp-junk"
    temp.mkdir()
    proc, url = start_server(work / "junk-server.log", temp, "--max-upload-mb", "50", "--max-queue", "64")
    try:
        http = httpx.Client(base_url=url, timeout=600)
        baseline = tree_bytes(temp)
        for count, mib, concurrency in ((40, 10, 1), (40, 10, 8), (16, 45, 16)):
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            def sample(stop: threading.Event = stop, samples: list = samples) -> None:
                while not stop.is_set():
                    samples.append((time.time(), tree_bytes(temp)))
                    time.sleep(0.1)

            sampler = threading.Thread(target=sample)
            sampler.start()
            data = junk_png(mib * MIB)

            def post(_i: int, data: bytes = data) -> str | None:
                r = httpx.post(f"{url}/v1/jobs", files={"image": ("junk.png", data, "image/png")},
                               data={"target": "goldfish"}, timeout=600)
                return r.json().get("id") if r.status_code == 202 else f"status {r.status_code}"

            with ThreadPoolExecutor(concurrency) as pool:
                ids = list(pool.map(post, range(count)))
            refused = [i for i in ids if i is None or i.startswith("status")]
            jobs = [_wait(http, i, lambda j: j["state"] in ("done", "failed", "cancelled"))[0]
                    for i in ids if i not in refused]
            last_failure = max(j["finished"] for j in jobs)
            time.sleep(6)
            stop.set()
            sampler.join()
            back = next((t for t, b in samples if t >= last_failure and b <= baseline), None)
            peak = max(b for _, b in samples)
            states = {s: sum(j["state"] == s for j in jobs) for s in {j["state"] for j in jobs}}
            after = "never" if back is None else f"{max(0.0, back - last_failure):.2f} s"
            refused_as = sorted(set(refused))
            print(f"  {count} x {mib} MiB, {concurrency} at a time: {states} "
                  f"{f'{len(refused)} refused ({refused_as}) ' if refused else ''}"
                  f"peak {peak / MIB:.0f} MiB over {baseline / MIB:.0f}; back to {baseline / MIB:.0f} MiB "
                  f"{after} after the last failure")
    finally:
        stop_server(proc)


# -- checks -------------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, "-m", "guiapp.cli", *args], capture_output=True, text=True, env=ENV,
                         cwd=ROOT)
    return out.returncode, out.stderr.strip().splitlines()


def checks_section(work: Path) -> None:
    print("checks:")
    tiny = work / "in" / "cat.png"
    tiny.parent.mkdir()
    Image.open(ROOT / "resources" / "samples" / "chelsea_cat.jpg").convert("RGB").resize((64, 48)).save(tiny)
    (work / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(300))
    big = str(10**30)
    for argv in (["attack", str(tiny), "-t", "goldfish", "--seed", big],
                 ["batch", str(work / "in"), "--out", str(work / "o1"), "--random-targets", "--seed", big],
                 ["batch", str(work / "in"), "--out", str(work / "o1"), "-t", "goldfish", "--seed", str(2**63)]):
        rc, err = cli(*argv, "--device", "cpu")
        print(f"  guiapp-cli {argv[0]} ... --seed {argv[-1][:12]}...: exit {rc}, {len(err)} line(s) on stderr: "
              f"{err[-1] if err else ''}")
    temp = work / "tmp-checks"
    temp.mkdir()
    proc, url = start_server(work / "checks-server.log", temp)
    try:
        files = {"image": ("cat.png", tiny.read_bytes(), "image/png")}
        r = httpx.post(f"{url}/v1/attack", files=files, data={"target": "goldfish", "seed": big}, timeout=60)
        print(f"  HTTP seed=10**30: {r.status_code} {r.json()['message']}")
        r = httpx.post(f"{url}/v1/attack", files=files, data={"target": "goldfish", "steps": "2"}, timeout=60,
                       headers={"Origin": "http://evil.example"})
        print(f"  HTTP cross-origin form POST without a token: {r.status_code} {r.json()['error']}")
        r = httpx.post(f"{url}/v1/attack", files=files, data={"target": "goldfish", "steps": "2"}, timeout=60,
                       headers={"Host": "evil.example"})
        print(f"  HTTP request naming another host (DNS rebinding): {r.status_code} {r.json()['error']}")
    finally:
        stop_server(proc)
    rc, _err = cli("batch", str(work / "in"), "--out", str(work / "o2"), "-t", "goldfish", "--steps", "4",
                   "--device", "cpu")

    def refuse(name: str):
        raise ValueError(name)

    report = json.loads((work / "o2" / "report.json").read_text(), parse_constant=refuse)
    print(f"  batch (exit {rc}): report.json parses strictly ({len(report['rows'])} rows, "
          f"the broken file's psnr = {report['rows'][0]['psnr']}); lock file left: "
          f"{(work / 'o2' / '.guiapp-batch.lock').exists()}")


# -- round 4 (issue 33) -------------------------------------------------------------------


def _stalled_upload(url: str, stop: threading.Event) -> None:
    """A client that declares a 20 MB upload and sends a byte every 2 s."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    boundary = "stall"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {20 * MIB}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n--{boundary}\r\n"
                'Content-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n')
        sock.sendall(head.encode())
        while not stop.wait(2.0):
            try:
                sock.sendall(b"\x00")
            except OSError:
                return  # the server closed it


def round4_section(work: Path) -> None:
    print("round4 (issue 33):")
    temp = work / "tmp-round4"
    temp.mkdir()
    proc, url = start_server(work / "round4-server.log", temp, "--max-upload-mb", "40")
    try:
        from _imagefiles import strip_png

        data = strip_png(1_000_000, 32)
        for op in ("predict", "attack"):
            r, extra, seconds = post_strip(proc, url, op, data)
            error = r.json().get("error", "") if r.status_code != 200 else ""
            print(f"  1,000,000x32 PNG ({len(data) / 1024:.0f} KB) to /v1/{op}: {r.status_code} {error} in "
                  f"{seconds:.2f} s; server peak +{extra / MIB:.0f} MiB")
        stop = threading.Event()
        stallers = [threading.Thread(target=_stalled_upload, args=(url, stop), daemon=True) for _ in range(3)]
        for t in stallers:
            t.start()
        time.sleep(5.0)
        tiny = io.BytesIO()
        Image.open(ROOT / "resources" / "samples" / "chelsea_cat.jpg").convert("RGB").save(tiny, "PNG")
        started = time.monotonic()
        r = httpx.post(f"{url}/v1/predict", files={"image": ("cat.png", tiny.getvalue(), "image/png")}, timeout=120)
        print(f"  three uploads declaring 20 MB, a byte every 2 s: a normal predict beside them -> {r.status_code} "
              f"in {time.monotonic() - started:.2f} s")
        stop.set()
        http = httpx.Client(base_url=url, timeout=600)
        job = http.post("/v1/jobs", files={"image": ("cat.png", tiny.getvalue(), "image/png")},
                        data={"target": "goldfish", "mode": "robust", "defences": "dip:iterations=5000",
                              "levels": "view"}).json()
        if "id" not in job:
            print(f"  robust job with DIP refused: {job}")
        else:
            _wait(http, job["id"], lambda j: j["state"] == "running")
            time.sleep(20.0)  # into the real DIP check of a candidate (the steps take a few seconds)
            started = time.monotonic()
            state = http.delete(f"/v1/jobs/{job['id']}").json()["state"]
            free = _idle(http)
            left = [p.name for p in temp.rglob("*") if p.is_file() and job["id"] in str(p)]
            print(f"  robust job with dip:iterations=5000 (view), DELETE 20 s into its run: '{state}'; the worker "
                  f"free {free - started:.1f} s later; the job's files left: {left or 'none'}")
    finally:
        stop_server(proc)
    folder, out = work / "r4-in", work / "r4-out"
    folder.mkdir()
    for name in ("chelsea_cat.jpg", "coffee.jpg"):
        Image.open(ROOT / "resources" / "samples" / name).convert("RGB").resize((96, 64)).save(folder / name)
    cli("batch", str(folder), "--out", str(out), "-t", "goldfish", "--steps", "4", "--device", "cpu")
    victim = out / "coffee.png"
    whole = victim.read_bytes()
    victim.write_bytes(whole[: len(whole) // 2])
    rc, _ = cli("batch", str(folder), "--out", str(out), "-t", "goldfish", "--steps", "4", "--device", "cpu")
    print(f"  an output PNG cut to half, then the batch resumed (exit {rc}): redone "
          f"{victim.stat().st_size == len(whole) or Image.open(victim).size == (96, 64)} "
          f"({victim.stat().st_size} bytes, was {len(whole)})")
    times = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "guiapp.cli", "--help"], capture_output=True, env=ENV, cwd=ROOT)
        times.append(time.monotonic() - started)
    print(f"  guiapp-cli --help: {min(times):.2f} / {sorted(times)[1]:.2f} / {max(times):.2f} s (min / median / max)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="memory,cancel,junk,checks,round4")
    ap.add_argument("--side", type=int, default=2000, help="image side for the cancel section")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        path, op = args.child.rsplit(":", 1)
        cli_child(path, op)
        return
    print(f"machine: {machine()}")
    print(f"command: python bench/hardening.py --only {args.only}")
    with tempfile.TemporaryDirectory(prefix="guiapp-hardening-") as tmp:
        work = Path(tmp)
        sections = {"memory": memory_section, "cancel": lambda w: cancel_section(w, args.side),
                    "junk": junk_section, "checks": checks_section, "round4": round4_section}
        for name in args.only.split(","):
            started = time.monotonic()
            sections[name](work)
            print(f"  ({name}: {time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
