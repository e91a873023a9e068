"""VAE with a 2-D latent space, the course's model: Bernoulli cross-entropy
on grey levels, 10 epochs. Gives the classic latent-space pictures. The
cross-entropy on grey levels is no likelihood of 8-bit images, so the run
offers `elbo` (its nats), not the shared `nll`.

    jaxgen train --config experiments/vae/vae_latent2.py --workdir runs/vae_latent2
    jaxgen eval --workdir runs/vae_latent2 --metrics elbo,pictures
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.family = "vae"
    c.latent_dim = 2
    c.likelihood = "bernoulli"
    c.batch_size = 100
    c.steps = 6000          # 10 epochs of Fashion-MNIST's 60,000 training images
    c.optim = ml_collections.ConfigDict({"learning_rate": 1e-3})  # Adam
    c.seed = 0
    return c
