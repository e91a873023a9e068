"""One picture of the Pix2Pix ablation: for each run, its input / output /
truth rows (the run's pictures/translation.png) under the run's name.

    python experiments/translation/figures.py experiments/results/translation/pix2pix_rows.png \
        runs/pix2pix/l1_cgan_seed0 runs/pix2pix/l1_seed0 ...
"""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402


def main(out, workdirs):
    images = [Image.open(os.path.join(w, "pictures", "translation.png")) for w in workdirs]
    width = images[0].width / 100
    fig, axes = plt.subplots(len(images), 1, figsize=(width, 1.05 * len(images) * images[0].height / 100 + 0.3),
                             squeeze=False)
    for ax, image, workdir in zip(axes[:, 0], images, workdirs):
        ax.imshow(image, cmap="gray")
        ax.set_title(f"{os.path.basename(workdir)}: input / output / truth", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
