"""VAE-GAN (Larsen et al. 2016): a VAE whose reconstruction is judged in a
discriminator's feature space."""
