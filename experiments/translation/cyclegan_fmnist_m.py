"""CycleGAN Fashion-MNIST-M (a) <-> Fashion-MNIST (b), unpaired, sized for a
shared 2-core CPU (1000 steps of 32 + 32 images; the learning rate decays
linearly to 0 over the second half).

    nice -n 19 jaxgen train --config experiments/translation/cyclegan_fmnist_m.py \
        --workdir runs/cyclegan/fmnist_m_seed0
    jaxgen eval --workdir runs/cyclegan/fmnist_m_seed0 --metrics translation,pictures
"""
from jaxgen.translation.family import default_config


def get_config():
    c = default_config("cyclegan")
    c.steps = 1000
    c.log_every = 50
    c.eval_every = 500
    c.sample_every = 1000
    c.ckpt_every = 500
    return c
