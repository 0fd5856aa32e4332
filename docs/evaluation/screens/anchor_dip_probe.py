"""Probe (issue 24, stop 28): does Deep Image Prior pass a perturbation through, if it is smooth?

Per held-back photo: DIP (400 iterations) of Lite0's clean 224-px view gives an anchor; a
targeted perturbation (a GRID x GRID field upsampled bilinearly; GRID 224 = full resolution)
at PSNR_DB is optimised so that Lite0 sees the target on anchor + delta (margin 8) and on
the view + delta (margin 2), assuming DIP passes delta through; then the real DIP of the
8-bit result is classified. Rows: whether the target survives, and how much of delta DIP's
output carries (gain: projection of DIP(x+d) - DIP(x) on d, over |d|^2; corr: its cosine).

    python docs/evaluation/screens/anchor_dip_probe.py 2 '[[28, 35], [224, 35]]' OUT.jsonl
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
def margin_loss(v, target, kappa):
    z = logits(v); others = torch.cat([z[:, :target], z[:, target + 1:]], 1).amax(1)
    return F.relu(others - z[:, target] + kappa).sum()
def attack(x, anchor, target, grid, psnr_db, steps=200, kappa=8.0):
    c = torch.zeros(1, 3, grid, grid, requires_grad=True)
    max_l2 = math.sqrt(x.numel()) * 10 ** (-psnr_db / 20)
    opt = torch.optim.Adam([c], lr=0.01)
    def field():
        d = F.interpolate(c, size=x.shape[-2:], mode="bilinear", align_corners=False) if grid != x.shape[-1] else c
        return d * torch.clamp(max_l2 / (d.norm() + 1e-12), max=1.0)
    for s in range(steps):
        d = field()
        loss = margin_loss((anchor + d).clamp(0, 1), target, kappa) + margin_loss((x + d).clamp(0, 1), target, 2.0)
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        return torch.round((x + field()).clamp(0, 1) * 255) / 255
n = int(sys.argv[1]); settings = json.loads(sys.argv[2]); out = open(sys.argv[3], "a")
for path, true, target in half_pairs("held", n):
    img = load_image(path).rgb
    x = to_model_crop(image_to_tensor(img), m.spec)
    t0 = time.process_time()
    anchor = image_to_tensor(deep_image_prior(tensor_to_image(x), iterations=400, device="cpu"))
    t_anchor = time.process_time() - t0
    for grid, psnr_db in settings:
        t = time.process_time()
        adv = attack(x, anchor, target, grid, psnr_db)
        with torch.no_grad():
            ok = int(logits(adv).argmax()) == target
        mse = float(((adv - x) * 255).pow(2).mean())
        pur = image_to_tensor(deep_image_prior(tensor_to_image(adv), iterations=400, device="cpu"))
        with torch.no_grad():
            top = int(logits(pur).argmax())
            d_in = adv - x; d_out = pur - anchor
            gain = float((d_out * d_in).sum() / (d_in * d_in).sum())
            corr = float((d_out * d_in).sum() / (d_in.norm() * d_out.norm()))
        row = {"file": path.name, "target": target, "grid": grid, "psnr_target": psnr_db, "psnr": psnr_from_mse(mse),
               "adv_ok": ok, "dip_top1": top, "dip_survives": top == target, "delta_gain_through_dip": gain,
               "delta_corr": corr, "cpu": time.process_time() - t, "anchor_cpu": t_anchor}
        out.write(json.dumps(row) + "\n"); out.flush(); print(row, flush=True)
