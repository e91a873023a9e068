"""GAN family group: MLP GAN, DCGAN, WGAN, WGAN-GP, conditional GAN (one package)."""
