import time

import numpy as np

from guiapp.core.threads import apply_threads

apply_threads()
from guiapp.core.defences.dip import deep_image_prior  # noqa: E402
from guiapp.core.imageio import load_image  # noqa: E402

img = load_image('/work/shared/imagenet-samples/n01443537_goldfish.JPEG').rgb
print(img.shape)
for shape in [(224,224), img.shape[:2]]:
    a = img[:shape[0], :shape[1]]
    t = time.time()
    out = deep_image_prior(a, 400)
    print(shape, time.time()-t, flush=True)
    np.save(f'/tmp/w24/dip_{shape[0]}.npy', np.stack([a, out]))
