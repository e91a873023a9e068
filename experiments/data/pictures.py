"""Pictures of the built datasets, to look at them:

    python experiments/data/pictures.py [--out experiments/results/data]

fashion_mnist_m_train.png: the first 64 train images of fashion_mnist_m;
edges2fashion_pairs.png: the first 32 train pairs of edges2fashion, each
edge map (a) followed by its garment (b), four pairs to a row.
"""
import argparse
import os

import numpy as np

from jaxgen import data
from jaxgen.engine.images import save_image_grid


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("experiments", "results", "data"))
    args = parser.parse_args()
    blended = data.get("fashion_mnist_m").load(None, "train")["image"][:64]  # [64, 28, 28, 3]
    print(save_image_grid(os.path.join(args.out, "fashion_mnist_m_train.png"),
                          blended / 255.0, ncols=8, scale=3))
    pairs = data.get("edges2fashion").load(None, "train")
    interleaved = np.stack([pairs["a"][:32], pairs["b"][:32]], axis=1)  # [32, 2, 28, 28, 1]
    print(save_image_grid(os.path.join(args.out, "edges2fashion_pairs.png"),
                          interleaved.reshape(64, 28, 28, 1) / 255.0, ncols=8, scale=3))


if __name__ == "__main__":
    main()
