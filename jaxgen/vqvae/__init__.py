"""VQ-VAE with an autoregressive prior over its code grid (family `vqvae`)."""
