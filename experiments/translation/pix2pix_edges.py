"""Pix2Pix on edges2fashion sized for a shared 2-core CPU (2000 steps of 32
pairs, ~6 min). The ablation rows of experiments/results/translation.md are
this file with overrides (experiments/translation/run_pix2pix.sh):

    l1_cgan     (as is: cGAN + 100 L1, 34 px patches)
    l1          --config.gan_weight=0
    cgan        --config.l1_weight=0
    l1_cgan_16  --config.d_layers=1      (16 px patches)
"""
from jaxgen.translation.family import default_config


def get_config():
    c = default_config("pix2pix")
    c.steps = 2000
    c.log_every = 50
    c.eval_every = 500
    c.sample_every = 1000
    c.ckpt_every = 1000
    return c
