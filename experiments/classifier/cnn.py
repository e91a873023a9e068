"""CNN classifier, the feature extractor of the image metrics (10 epochs).

    nice -n 19 jaxgen train --config experiments/classifier/cnn.py --workdir runs/classifier_cnn
"""
from jaxgen.classifier.family import default_config

EPOCH = 469  # batches of 128 in the 60,000 training images


def get_config():
    c = default_config()
    c.model = "cnn"
    c.steps = 10 * EPOCH
    c.eval_every = EPOCH
    c.ckpt_every = EPOCH
    c.sample_every = c.steps  # a classifier draws no samples; keeps the loop quiet
    return c
