"""A hosted classifier on the loopback, for bench/query.py: none of guiapp is part of it.

    python bench/victim_server.py --model NET.pt --card NET.json --port 8765 [--top-k 5]

It loads a TorchScript network with plain torch (or an ONNX file with onnxruntime),
prepares each POSTed image as its card says (shorter side resized, centre crop, pixel
range, mean/std, channel order) with PIL, and answers as hosted classifiers do:
`[{"label": "<full synonym string>", "score": p}]` for its top k (k = 1: the top label
only). It counts the questions itself: GET /count answers {"queries": N}; POST /reset sets it to 0.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch
from PIL import Image


class Net:
    def __init__(self, model: Path, card: Path) -> None:
        self.card = json.loads(card.read_text())
        self.labels = (card.parent / self.card["labels"]).read_text().splitlines()
        self.onnx = None
        if model.suffix == ".onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            self.onnx = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        else:
            self.net = torch.jit.load(str(model), map_location="cpu").eval()
        self.lock = threading.Lock()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.onnx is None:
            return self.net(x)
        name = self.onnx.get_inputs()[0].name
        return torch.from_numpy(self.onnx.run(None, {name: x.numpy()})[0])

    def prepare(self, img: Image.Image) -> torch.Tensor:
        c = self.card
        img = img.convert("RGB")
        w, h = img.size
        scale = c["resize"] / min(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - c["crop"]) // 2, (h - c["crop"]) // 2
        img = img.crop((left, top, left + c["crop"], top + c["crop"]))
        x = np.asarray(img, dtype=np.float32)
        if c["pixel_range"][1] <= 1:
            x = x / 255.0
        x = (x - np.array(c["mean"], np.float32)) / np.array(c["std"], np.float32)
        if c.get("channel_order", "RGB") == "BGR":
            x = x[..., ::-1]
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]

    def top_k(self, png: bytes, k: int) -> list[dict]:
        with Image.open(io.BytesIO(png)) as img, torch.no_grad(), self.lock:
            probs = self.logits(self.prepare(img)).softmax(1)[0]
        conf, idx = probs.topk(k)
        return [{"label": self.labels[int(i)], "score": round(float(p), 6)} for p, i in zip(conf, idx, strict=True)]


def multipart_file(body: bytes, content_type: str) -> bytes:
    """The first file part of a multipart body (enough for one uploaded image)."""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, sep, data = part.partition(b"\r\n\r\n")
        if sep and b"filename=" in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    raise ValueError("no file part")


def serve(net: Net, port: int, k: int) -> None:
    count = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def _json(self, code: int, data) -> None:
            body = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._json(200, {"queries": count["n"]})

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/reset":
                count["n"] = 0
                return self._json(200, {"queries": 0})
            count["n"] += 1
            ctype = self.headers.get("Content-Type", "")
            try:
                png = multipart_file(body, ctype) if ctype.startswith("multipart/") else body
                self._json(200, net.top_k(png, k))
            except Exception as exc:  # noqa: BLE001 - a bad upload is the client's problem
                self._json(400, {"error": str(exc)})

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"answering at http://127.0.0.1:{server.server_port}/ (POST an image to any path; GET /count)",
          file=sys.stderr, flush=True)
    server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                epilog="POST an image (multipart field 'file', or the raw body) to any path: it "
                                       "answers [{\"label\": \"<full synonym string>\", \"score\": p}] for its "
                                       "top k. GET /count answers {\"queries\": N}; POST /reset sets it to 0.")
    p.add_argument("--model", type=Path, required=True, help="a TorchScript (.pt) or ONNX (.onnx) file")
    p.add_argument("--card", type=Path, required=True, help="its card (JSON: labels file, input size, mean, std...)")
    p.add_argument("--port", type=int, default=8765, help="the loopback port (0: any free one)")
    p.add_argument("--top-k", type=int, default=5, help="labels per answer (1: the top label only)")
    args = p.parse_args()
    torch.set_num_threads(1)
    serve(Net(args.model, args.card), args.port, args.top_k)


if __name__ == "__main__":
    main()
