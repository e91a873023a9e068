"""StyleGAN-style generator on Fashion-MNIST (synthesised at 32x32, cropped to 28),
non-saturating loss with R1 (gamma 1), style mixing 0.9, generator EMA 0.999.
The run in experiments/results/gan.md ("stylegan") was started with the first
command and stopped by SIGTERM after 237 steps (the engine saves and exits;
`train` resumes from there), on a heavily shared 2-core CPU. For runs this
short sample from the raw weights: the EMA (0.999) is still near its init.

    nice -n 19 python3 -m jaxgen.cli train --config experiments/gan/stylegan.py --workdir runs/gan/stylegan
    nice -n 19 python3 -m jaxgen.cli eval --workdir runs/gan/stylegan --metrics fid,pr,classes,pictures --num 2000 --config.sample_from=raw
    nice -n 19 python3 -m jaxgen.cli eval --workdir runs/gan/stylegan --metrics fid,pr --num 2000 --config.sample_from=raw --config.truncation=0.7
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "stylegan"
    c.dataset = "fashion_mnist"
    c.batch_size = 32
    c.steps = 3000
    c.log_every = 25
    c.sample_every = 250
    c.ckpt_every = 100
    c.eval_every = 500
    c.seed = 0
    return c
