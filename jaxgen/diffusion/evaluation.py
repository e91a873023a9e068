"""`jaxgen eval` evaluations of diffusion runs that are the family's own
(each `fn(run, key, num) -> dict`):

    pictures  forward process, reverse chain, and guidance grids (pictures.py)

The variational bound comes from the shared `nll` evaluation
(jaxgen.metrics.runner) through `log_likelihood`: nll_nats, bpd over all
H x W x C values, with vb_timesteps levels per image (= num_timesteps gives
the exact sum, fewer a stratified unbiased estimate). FID/KID/precision-
recall of samples and `sample_time` are shared too (`--metrics fid,...`),
with the sampling knobs given as --config overrides.
"""
from __future__ import annotations

import os

from jaxgen.diffusion import pictures as pictures_lib


def pictures(run, key, outdir: str) -> list:
    return pictures_lib.write_pictures(run, key, outdir)


def _pictures_metric(run, key, num):
    return {"pictures": pictures(run, key, os.path.join(run.workdir, "pictures"))}


EVALUATIONS = {"pictures": _pictures_metric}
