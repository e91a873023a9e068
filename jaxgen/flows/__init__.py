"""Normalizing flows: RealNVP and Glow (images and 2-D toy densities)."""
