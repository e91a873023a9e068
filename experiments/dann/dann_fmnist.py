"""DANN, Fashion-MNIST -> Fashion-MNIST-M, sized for a shared 2-core CPU
(1000 steps of 64 source + 64 target images, ~4 min). The three rows of
experiments/results/domain_adaptation.md are this file with overrides
(experiments/dann/run_table.sh):

    source only  --config.adapt=false
    DANN         (as is)
    oracle       --config.source=single --config.dataset=fashion_mnist_m --config.dataset_b=
"""
from jaxgen.dann.family import default_config


def get_config():
    c = default_config()
    c.steps = 1000
    c.log_every = 25           # the domain-accuracy curve
    c.eval_every = 1000
    c.ckpt_every = 1000
    c.sample_every = 1000      # dann draws no samples
    return c
