"""VAE-GAN (Larsen et al. 2016) on Fashion-MNIST, for a fixed wall time on a
shared 2-core CPU: latent 32, the VAE's encoder and decoder widths, a
3-conv discriminator whose last conv gives the feature reconstruction loss,
batch 64. `steps` is an upper bound: experiments/vae/run_vaegan.sh stops the
run after 15 minutes with SIGTERM (the engine saves and exits), next to a
VAE of the same widths trained for the same wall time
(experiments/vae/vaegan_matching_vae.py).

    nice -n 19 timeout -s TERM 900 python3 -m jaxgen.cli train \
        --config experiments/vae/vaegan.py --workdir runs/vaegan --no-progress
    nice -n 19 python3 -m jaxgen.cli eval --workdir runs/vaegan \
        --metrics fid,pr,classes,pictures --num 2000
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vaegan"
    c.seed = 0
    c.batch_size = 64
    c.steps = 100000        # stopped by wall time
    c.latent_dim = 32
    c.enc_channels = (32, 64, 128)
    c.dec_channels = (128, 64, 32)
    c.d_channels = (32, 64, 128)
    c.feature_layer = 3
    c.gamma = 1.0           # 0.01 was worse (experiments/results/vae.md)
    c.log_every = 50
    c.sample_every = 500
    c.ckpt_every = 250
    c.eval_every = 500
    return c
