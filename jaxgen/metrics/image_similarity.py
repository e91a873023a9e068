"""Full-reference image similarity, per image: PSNR and SSIM (for translators
scored against the ground truth).

SSIM follows Wang et al. 2004 as scikit-image computes it by default
(`structural_similarity` with gaussian_weights=False): 7x7 uniform windows,
K1 = 0.01, K2 = 0.03, sample (N - 1) covariances, the mean of the SSIM map
over the pixels whose window lies inside the image (scikit-image crops the
3-pixel border), averaged over channels. tests/test_image_similarity.py
compares both with scikit-image.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

SSIM_WINDOW = 7
K1, K2 = 0.01, 0.03
MSE_FLOOR = 1e-10  # identical images: PSNR of 10 log10(R^2 / 1e-10) instead of infinity


def psnr(x, y, data_range: float = 1.0):
    """Peak signal-to-noise ratio in dB of images [B, H, W, C] against [B, H, W, C]. [B]"""
    mse = jnp.mean((x.astype(jnp.float32) - y.astype(jnp.float32)) ** 2, axis=(1, 2, 3))
    return 10.0 * jnp.log10(data_range ** 2 / jnp.maximum(mse, MSE_FLOOR))


def _window_mean(x, size: int):
    """Mean over every size x size window lying inside [B, H, W, C] -> [B, H-size+1, W-size+1, C]."""
    summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, size, size, 1), (1, 1, 1, 1), "VALID")
    return summed / (size * size)


def ssim(x, y, data_range: float = 1.0, window: int = SSIM_WINDOW):
    """Mean structural similarity of images [B, H, W, C] against [B, H, W, C]. [B]"""
    x, y = x.astype(jnp.float32), y.astype(jnp.float32)
    n = window * window
    cov_norm = n / (n - 1.0)  # sample covariances, as scikit-image's default
    ux, uy = _window_mean(x, window), _window_mean(y, window)
    vx = cov_norm * (_window_mean(x * x, window) - ux * ux)
    vy = cov_norm * (_window_mean(y * y, window) - uy * uy)
    vxy = cov_norm * (_window_mean(x * y, window) - ux * uy)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return jnp.mean(s, axis=(1, 2, 3))
