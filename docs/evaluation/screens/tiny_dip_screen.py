import json
import sys
import time

from PIL import Image

from guiapp.core.threads import apply_threads

apply_threads()
from guiapp.core import attack_file, load_model  # noqa: E402
from guiapp.core.attacks import make_config  # noqa: E402
from guiapp.core.defences.survival import survival  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402

m = load_model('efficientnet-lite0','cpu')
Image.open('resources/samples/coffee.jpg').convert('RGB').resize(
    (120,90), Image.Resampling.LANCZOS
).save('/tmp/w24/small.png')
cfg = make_config(
    'robust', defences=sys.argv[1], levels='view', **(json.loads(sys.argv[2]) if len(sys.argv)>2 else {})
)
t = time.time()
r = attack_file(
    '/tmp/w24/small.png', 'goldfish', '/tmp/w24/small_adv.png', model=m, config=cfg, centroids=None
)
print('success', r.success, 'steps', r.steps, 'psnr', r.psnr, 'sec', time.time()-t)
print(survival(m, load_image('/tmp/w24/small_adv.png').rgb, r.target, cfg.defences_to_survive(), levels=('view',)))
