"""How the VAE family reads its decoder, against NumPy and SciPy references: the
padding to the networks' size never contributes nats, the channel layout of
the logistic head, and the objectives' sums. (The distributions themselves
are tested in tests/test_distributions.py.)"""
import numpy as np
import pytest
from scipy import stats

import jax
import jax.numpy as jnp

from jaxgen.engine import config as config_lib
from jaxgen.nn import distributions
from jaxgen.nn.padding import crop_to, pad_to, padded_shape, padded_side
from jaxgen.vae import losses, models


@pytest.mark.parametrize("side,multiple,expected", [(28, 8, 32), (32, 8, 32), (30, 16, 32),
                                                    (1, 8, 8), (33, 8, 40), (28, 4, 28)])
def test_padded_side_is_the_next_multiple(side, multiple, expected):
    assert padded_side(side, multiple) == expected


def test_pad_to_centres_the_image_and_crop_to_takes_it_back():
    x = jnp.arange(2 * 28 * 27 * 3, dtype=jnp.float32).reshape(2, 28, 27, 3) + 1
    padded = pad_to(x, padded_shape(28, 27, 8))  # [2, 32, 32, 3]
    assert padded.shape == (2, 32, 32, 3)
    # 28 -> 32: 2 rows above and below; 27 -> 32: 2 columns left, 3 right.
    np.testing.assert_array_equal(padded[:, 2:30, 2:29], x)
    assert float(jnp.abs(padded).sum()) == float(jnp.abs(x).sum())  # zeros elsewhere
    np.testing.assert_array_equal(crop_to(padded, (28, 27)), x)


def tiny_config(**values):
    overrides = {"enc_channels": (4, 8, 8), "dec_channels": (8, 8, 4), **values}
    return config_lib.build_config("vae", overrides={k: str(v) for k, v in overrides.items()})


def test_the_networks_see_images_padded_to_multiples_of_two_to_the_depth():
    assert models.network_image_shape(tiny_config()) == (32, 32)          # 28 -> 32
    deeper = tiny_config(enc_channels=(4, 4, 4, 4))                       # 2**4 = 16
    assert models.network_image_shape(deeper) == (32, 32)
    assert models.network_image_shape(tiny_config(enc_channels=(4, 4))) == (32, 32)
    assert models.network_image_shape(tiny_config(enc_channels=(4,), dec_channels=(4, 4))) \
        == (28, 28)                                                       # 28 = 7 * 4


def random_case(channels: int, out_per_channel: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(2, 28, 28, channels)).astype(np.uint8)
    out = rng.normal(size=(2, 32, 32, out_per_channel * channels)).astype(np.float32)
    return pixels, out


def test_bernoulli_reconstruction_reads_the_central_pixels_only():
    pixels, out = random_case(channels=1, out_per_channel=1)
    t = pixels / 255.0
    p = 1 / (1 + np.exp(-out[:, 2:30, 2:30].astype(np.float64)))
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(axis=(1, 2, 3))
    got = losses.reconstruction_nll("bernoulli", jnp.asarray(out), jnp.asarray(pixels))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)
    border = out.copy()
    border[:, :2] = 100.0  # any value in the padding: the same nats
    border[:, :, -2:] = -100.0
    np.testing.assert_array_equal(
        losses.reconstruction_nll("bernoulli", jnp.asarray(border), jnp.asarray(pixels)), got)


def logistic_bin_log_prob(pixels, mean, scale):
    """log P(bin) of a logistic in float64 with SciPy, accurate far in the tails:
    log(F(hi) - F(lo)) through log-CDFs below the mean and log-survivals above it."""
    x = pixels.astype(np.float64)
    lo, hi = (x - 0.5) / 255, (x + 0.5) / 255
    logistic = stats.logistic(mean, scale)
    with np.errstate(divide="ignore"):  # the branch np.where discards may hit log(0)
        below = logistic.logcdf(hi) + np.log1p(-np.exp(logistic.logcdf(lo) - logistic.logcdf(hi)))
        above = logistic.logsf(lo) + np.log1p(-np.exp(logistic.logsf(hi) - logistic.logsf(lo)))
    interior = np.where(x / 255 < mean, below, above)
    return np.where(x == 0, logistic.logcdf(hi), np.where(x == 255, logistic.logsf(lo), interior))


def test_logistic_head_means_first_then_scales_per_channel():
    """RGB: channels 0..2 are the means' logits, 3..5 the log-scales (floored at -7)."""
    pixels, out = random_case(channels=3, out_per_channel=2)
    out[..., 4] = -20.0  # below the floor: read as -7
    centre = out[:, 2:30, 2:30].astype(np.float64)
    mean, log_scale = 1 / (1 + np.exp(-centre[..., :3])), np.maximum(centre[..., 3:], -7.0)
    expected = -logistic_bin_log_prob(pixels, mean, np.exp(log_scale)).sum(axis=(1, 2, 3))
    got = losses.reconstruction_nll("logistic", jnp.asarray(out), jnp.asarray(pixels))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4)
    np.testing.assert_allclose(losses.decoder_mean(jnp.asarray(out), (28, 28, 3)), mean,
                               rtol=1e-5, atol=1e-6)


def test_vae_loss_is_weighted_recon_plus_closed_form_kl():
    config = tiny_config(latent_dim=3, likelihood="logistic", recon_weight=0.5)
    pixels = np.random.default_rng(2).integers(0, 256, (4, 28, 28, 1)).astype(np.uint8)
    batch = {"image": jnp.asarray(pixels)}
    model = models.make_model(config)
    params = jax.jit(model.init)(jax.random.key(0), models.network_input(config, batch["image"]))
    key = jax.random.key(1)
    loss, aux = jax.jit(lambda p: losses.vae_loss(config, p, batch, key))(params)
    # The same sum written out: z from the same key, the same decoder.
    mean, log_var = models.encode(config, params, batch["image"])
    z = distributions.reparameterize(key, mean, log_var)
    recon = losses.reconstruction_nll("logistic", models.decode(config, params, z), batch["image"])
    kl = np.sum(0.5 * (np.exp(log_var) + np.asarray(mean) ** 2 - 1 - log_var), axis=1)
    np.testing.assert_allclose(float(loss), float(np.mean(0.5 * recon + kl)), rtol=1e-5)
    np.testing.assert_allclose(float(aux["elbo"]), -float(np.mean(recon + kl)), rtol=1e-5)
