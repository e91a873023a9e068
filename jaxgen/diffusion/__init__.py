"""Diffusion models: DDPM / DDIM, eps / x0 / v prediction, guidance, latent diffusion."""
