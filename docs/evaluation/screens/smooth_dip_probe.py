"""Probe (issue 24, stop 28): does a smooth (low-frequency) targeted perturbation of Lite0's
224-px view survive Deep Image Prior (400 iterations), where the robust mode's fine noise
did not? The perturbation (a GRID x GRID field upsampled bilinearly, L2-held to PSNR_DB) is
optimised with expectation over no blur and Gaussian blurs of sigma 1.5 and 2.5 (DIP's
stand-in), then the real DIP of the 8-bit result is classified.

    python docs/evaluation/screens/smooth_dip_probe.py 2 '[[28, 35], [224, 35]]' OUT.jsonl
"""
import sys, json, time, math
import numpy as np, torch, torch.nn.functional as F
from pathlib import Path
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
from guiapp.core.models import load_model
from guiapp.core.preprocess import image_to_tensor, tensor_to_image, to_model_crop, normalise
from guiapp.core.imageio import load_image
from guiapp.core.defences.dip import deep_image_prior
from guiapp.core.metrics import psnr_from_mse
from quiet_pairs import half_pairs
torch.set_num_threads(1)
m = load_model("efficientnet-lite0", "cpu")
def logits(v): return m.head(m.features(normalise(v, m.spec)))
def blur(v, sigma):
    r = max(1, int(3 * sigma)); t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2); k = (k / k.sum())
    v = F.pad(v, (r, r, r, r), mode="replicate")
    v = F.conv2d(v, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    return F.conv2d(v, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
def attack(x, target, grid, psnr_db, steps=150):
    """delta = bilinear-upsampled grid x grid field (grid=224: full resolution), L2-projected to psnr_db."""
    c = torch.zeros(1, 3, grid, grid, requires_grad=True)
    max_l2 = math.sqrt(x.numel()) * 10 ** (-psnr_db / 20)  # ||delta||_2 at that PSNR (x in [0,1])
    opt = torch.optim.Adam([c], lr=0.01)
    for s in range(steps):
        d = F.interpolate(c, size=x.shape[-2:], mode="bilinear", align_corners=False) if grid != x.shape[-1] else c
        n = d.norm()
        d = d * torch.clamp(max_l2 / (n + 1e-12), max=1.0)
        loss = 0
        for sig in (0.0, 1.5, 2.5):  # EOT over DIP-like smoothing
            v = (x + d).clamp(0, 1)
            v = blur(v, sig) if sig > 0 else v
            z = logits(v)
            others = torch.cat([z[:, :target], z[:, target + 1:]], 1).amax(1)
            loss = loss + F.relu(others - z[:, target] + 5).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        d = F.interpolate(c, size=x.shape[-2:], mode="bilinear", align_corners=False) if grid != x.shape[-1] else c
        d = d * torch.clamp(max_l2 / (d.norm() + 1e-12), max=1.0)
        return torch.round((x + d).clamp(0, 1) * 255) / 255
n = int(sys.argv[1]); settings = json.loads(sys.argv[2]); out = open(sys.argv[3], "a")
for path, true, target in half_pairs("held", n):
    img = load_image(path).rgb
    x = to_model_crop(image_to_tensor(img), m.spec)  # the model's 224 view
    for grid, psnr_db in settings:
        t = time.process_time()
        adv = attack(x, target, grid, psnr_db)
        with torch.no_grad():
            ok = int(logits(adv).argmax()) == target
        mse = float(((adv - x) * 255).pow(2).mean())
        pur = deep_image_prior(tensor_to_image(adv), iterations=400, device="cpu")
        with torch.no_grad():
            top = int(logits(image_to_tensor(pur)).argmax())
        row = {"file": path.name, "target": target, "grid": grid, "psnr_target": psnr_db, "psnr": psnr_from_mse(mse),
               "adv_ok": ok, "dip_top1": top, "dip_survives": top == target, "cpu": time.process_time() - t}
        out.write(json.dumps(row) + "\n"); out.flush(); print(row, flush=True)
