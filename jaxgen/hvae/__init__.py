"""Hierarchical VAE (`hvae`): latent groups at several resolutions, top-down."""
