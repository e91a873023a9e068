"""Translation pictures, each a grid of the first test examples:

    pix2pix   translation.png: rows input a / output G(a) / truth b (paired)
    cyclegan  cycle_ab.png: rows a / G(a) / F(G(a));  cycle_ba.png: b / F(b) / G(F(b))

Grey images are shown as RGB beside RGB ones.
"""
from __future__ import annotations

import os

import numpy as np

from jaxgen.engine.images import save_image_grid
from jaxgen.translation import cyclegan
from jaxgen.translation.models import to_signed, to_unit
from jaxgen.translation.sampling import first_inputs, translate_ab

COLUMNS = 10


def as_rgb(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


def rows(*blocks) -> np.ndarray:
    """Blocks [COLUMNS, H, W, C_i] stacked as rows of one grid [rows * COLUMNS, H, W, C]."""
    channels = max(b.shape[-1] for b in blocks)
    return np.concatenate([as_rgb(b) if channels == 3 else np.asarray(b) for b in blocks])


def pix2pix_rows(run, key) -> np.ndarray:
    a = to_signed(first_inputs(run.config, COLUMNS, "a"))
    truth = first_inputs(run.config, COLUMNS, "b") / 255.0
    out = to_unit(translate_ab(run.config, run.state, a, key))
    return rows(np.asarray(to_unit(a)), np.asarray(out), truth)


def cycle_rows(run, start: str) -> np.ndarray:
    """x / the other domain's image of it / back again, x from side `start`."""
    there, back = ("g_ab", "g_ba") if start == "a" else ("g_ba", "g_ab")
    x = to_signed(first_inputs(run.config, COLUMNS, start))
    y = cyclegan.translate(run.config, run.state.params, there, x)
    x_again = cyclegan.translate(run.config, run.state.params, back, y)
    return rows(*(np.asarray(to_unit(v)) for v in (x, y, x_again)))


def pictures(run, key, outdir: str) -> list:
    os.makedirs(outdir, exist_ok=True)
    if run.config.family == "pix2pix":
        return [save_image_grid(os.path.join(outdir, "translation.png"),
                                pix2pix_rows(run, key), ncols=COLUMNS)]
    return [save_image_grid(os.path.join(outdir, f"cycle_{s}{t}.png"), cycle_rows(run, s),
                            ncols=COLUMNS) for s, t in (("a", "b"), ("b", "a"))]


def pictures_metric(run, key, num):
    del num
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


