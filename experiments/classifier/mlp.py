"""MLP classifier 784-512-256-10 with dropout (30 epochs).

    nice -n 19 jaxgen train --config experiments/classifier/mlp.py --workdir runs/classifier_mlp
"""
from jaxgen.classifier.family import default_config

EPOCH = 469  # batches of 128 in the 60,000 training images


def get_config():
    c = default_config()
    c.model = "mlp"
    c.steps = 30 * EPOCH
    c.dropout = 0.2
    c.eval_every = EPOCH
    c.ckpt_every = 5 * EPOCH
    c.sample_every = c.steps
    return c
