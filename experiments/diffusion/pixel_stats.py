"""Simple pixel statistics of a `ddpm` run's samples next to the test images.

For the test images and each sampler setting: mean and standard deviation of
the pixels, the fraction of near-black pixels (< 0.02, Fashion-MNIST's
background) and the mean absolute difference of horizontally neighbouring
pixels, a measure of fine texture (grain raises it, blur lowers it). Images
are in [0, 1], every channel counted; a conditional run's labels are 0..K-1
repeated, as in sweep.py.

    nice -n 19 python experiments/diffusion/pixel_stats.py --workdir runs/ddpm_pixel_cond_6k \\
        --num 200 --set sampler=ddim,sample_steps=50 --set sampler=ddpm,sample_steps=50
"""
from __future__ import annotations

import jax
import numpy as np

import jaxgen
from jaxgen import data
from sweep import sampling_arguments, sweep_labels


def pixel_stats(images) -> dict:
    """images [N, H, W, C] in [0, 1] -> a few scalar statistics."""
    x = np.asarray(images, np.float64)  # [N, H, W, C]
    return {"mean": x.mean(), "std": x.std(), "near_black": (x < 0.02).mean(),
            "neighbour_abs_diff": np.abs(np.diff(x, axis=2)).mean()}


def main():
    args = sampling_arguments(__doc__.split("\n")[0], num=200).parse_args()
    rows = []
    for setting in args.set:
        run = jaxgen.load(args.workdir, overrides=setting, step=args.step)
        if not rows:
            test = data.load_split(run.config, "test")["image"][:args.num]
            rows.append(("test images", pixel_stats(test.astype(np.float64) / 255.0)))
        samples = jax.device_get(run.sample(jax.random.key(args.seed), args.num,
                                            cond=sweep_labels(run, args.num)))
        rows.append((",".join(f"{k}={v}" for k, v in setting.items()), pixel_stats(samples)))
    names = list(rows[0][1])
    print("| images | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, stats in rows:
        print(f"| {label} | " + " | ".join(f"{stats[n]:.3f}" for n in names) + " |")


if __name__ == "__main__":
    main()
