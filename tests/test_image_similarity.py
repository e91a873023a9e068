"""PSNR and SSIM against scikit-image's implementations."""
import numpy as np
import pytest

from jaxgen.metrics.image_similarity import psnr, ssim

metrics = pytest.importorskip("skimage.metrics")


def _pairs(channels):
    rng = np.random.default_rng(channels)
    x = rng.uniform(size=(3, 28, 28, channels)).astype(np.float32)
    # A smoothed, noisy, shifted version: neither identical nor independent.
    y = np.clip(0.6 * x + 0.3 * np.roll(x, 2, axis=1)
                + 0.1 * rng.normal(size=x.shape), 0, 1).astype(np.float32)
    return x, y


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_scikit_image(channels):
    x, y = _pairs(channels)
    got = np.asarray(ssim(x, y))
    want = [metrics.structural_similarity(a, b, data_range=1.0, channel_axis=-1)
            for a, b in zip(x, y)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ssim(x, x)), 1.0, rtol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_matches_scikit_image(channels):
    x, y = _pairs(channels)
    want = [metrics.peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(np.asarray(psnr(x, y)), want, rtol=1e-5)
