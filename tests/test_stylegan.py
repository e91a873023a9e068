"""stylegan: the mathematics of its parts against independent references.

Demodulation against the variance it promises and against the per-example
("fused") kernel of the paper; truncation at psi = 0; style mixing of a w with
itself; R1 against finite differences. The family's machinery (training,
resume, sampling, evaluations, pictures) is in tests/test_contract.py.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.engine import config as config_lib
from jaxgen.nn.modulated import demodulation, modulated_conv
from jaxgen.stylegan import losses, sampling, steps

from tiny_configs import tiny_overrides


def tiny_config(**overrides):
    return config_lib.build_config("stylegan", overrides=tiny_overrides("stylegan", **overrides))


# --------------------------------------------------------------------------- demodulation


@pytest.mark.parametrize("impl", ["fast", "flax"])
def test_demodulation_gives_unit_variance_feature_maps(impl):
    """For i.i.d. unit-variance input every output map has variance 1 (interior
    pixels: at the border 'SAME' padding feeds zeros), whatever the kernel and
    styles; without demodulation it does not."""
    k_x, k_w, k_s = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k_x, (3, 64, 64, 16))  # [B, H, W, C_in]
    kernel = 0.7 * jax.random.normal(k_w, (3, 3, 16, 5))
    styles = jax.random.uniform(k_s, (3, 16), minval=0.2, maxval=3.0)  # [B, C_in]
    y = modulated_conv(x, kernel, styles, impl=impl)[:, 1:-1, 1:-1, :]  # [B, 62, 62, 5]
    var = np.asarray(jnp.var(y, axis=(1, 2)))  # [B, C_out]
    # 3844 pixels per map: the variance estimate's sd is about sqrt(2 / 3844) ~ 0.023
    # (neighbouring outputs share inputs, so somewhat more); 0.1 is > 4 sd.
    np.testing.assert_allclose(var, 1.0, atol=0.1)
    plain = modulated_conv(x, kernel, styles, demodulate=False, impl=impl)[:, 1:-1, 1:-1, :]
    assert np.all(np.abs(np.asarray(jnp.var(plain, axis=(1, 2))) - 1.0) > 0.5)


def test_modulated_conv_equals_per_example_kernel():
    """Scaling inputs, one shared conv, scaling outputs == convolving each
    example with its own kernel w'' = d_o s_i w_{kio} (the paper's fused form)."""
    k_x, k_w, k_s = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(k_x, (2, 6, 6, 4))
    kernel = jax.random.normal(k_w, (3, 3, 4, 3))
    styles = jax.random.normal(k_s, (2, 4))
    got = modulated_conv(x, kernel, styles)
    for b in range(2):
        w = kernel * styles[b][None, None, :, None]  # [3, 3, C_in, C_out]
        w = w / jnp.sqrt(jnp.sum(w ** 2, axis=(0, 1, 2)) + 1e-8)
        want = jax.lax.conv_general_dilated(x[b:b + 1], w, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        np.testing.assert_allclose(np.asarray(got[b:b + 1]), np.asarray(want),
                                   rtol=1e-4, atol=1e-4)
    d = demodulation(kernel, styles)
    assert d.shape == (2, 3)


# --------------------------------------------------------------------------- truncation, mixing


def generator(config, key):
    """(params {"mapping", "synthesis"} of the tiny generator, jitted ws -> images)."""
    params = jax.jit(functools.partial(steps.init_params, config))(key)["g"]
    synth = jax.jit(lambda g, ws, k: steps.synthesize(config, g, ws, k))
    return params, synth


def test_truncation_psi_zero_gives_the_mean_w_image_for_every_z():
    config = tiny_config(noise="false", truncation="0.0", ema_decay="0.0", sample_from="raw")
    g, synth = generator(config, jax.random.key(0))
    w_avg = jax.random.normal(jax.random.key(5), (config.w_dim,))
    state = steps.TrainState.create({"g": g, "d": None}, None, extra={"w_avg": w_avg})
    images = np.asarray(jax.jit(lambda s, k: sampling.sample(config, s, k, 6))(
        state, jax.random.key(2)))  # [6, 28, 28, 1]
    want = sampling.to_unit_range(synth(g, sampling.broadcast_styles(config, w_avg[None]), None))
    for image in images:
        np.testing.assert_allclose(image, np.asarray(want[0]), atol=1e-6)
    config.truncation = 1.0  # the control: untruncated samples differ from each other
    varied = np.asarray(jax.jit(lambda s, k: sampling.sample(config, s, k, 6))(
        state, jax.random.key(2)))
    assert np.abs(varied[0] - varied[1]).max() > 1e-4


def test_mix_styles_against_a_loop():
    w1 = jax.random.normal(jax.random.key(0), (3, 2))
    w2 = jax.random.normal(jax.random.key(1), (3, 2))
    cutoff = jnp.array([1, 4, 8])
    got = np.asarray(losses.mix_styles(w1, w2, cutoff, 8))  # [3, 8, 2]
    for b in range(3):
        for layer in range(8):
            want = w1[b] if layer < int(cutoff[b]) else w2[b]
            np.testing.assert_array_equal(got[b, layer], np.asarray(want))


def test_style_mixing_a_z_with_itself_equals_no_mixing():
    config = tiny_config()
    g, synth = generator(config, jax.random.key(3))
    # Give every noise input a visible strength so equal images mean equal noise too.
    g = jax.tree_util.tree_map_with_path(
        lambda p, x: jnp.ones_like(x) if "noise_scale" in jax.tree_util.keystr(p) else x, g)
    z = steps.latents(config, jax.random.key(4), 5)
    w = steps.map_latents(config, g, z)
    layers = steps.style_layers(config)
    cutoff = jnp.array([1, 2, 3, 5, layers - 1])  # every example really switches
    mixed = synth(g, losses.mix_styles(w, w, cutoff, layers), jax.random.key(6))
    plain = synth(g, sampling.broadcast_styles(config, w), jax.random.key(6))
    np.testing.assert_array_equal(np.asarray(mixed), np.asarray(plain))
    # The control: mixing with another z changes the images.
    other = steps.map_latents(config, g, steps.latents(config, jax.random.key(7), 5))
    changed = synth(g, losses.mix_styles(w, other, cutoff, layers), jax.random.key(6))
    assert np.abs(np.asarray(changed) - np.asarray(plain)).max() > 1e-5


def test_mixing_cutoffs_follow_the_probability():
    cut = np.asarray(losses.mixing_cutoffs(jax.random.key(0), 20000, 8, 0.3))
    assert cut.min() >= 1 and cut.max() <= 8
    assert abs(np.mean(cut < 8) - 0.3) < 0.02  # 4.6 sd of a binomial fraction
    assert set(np.unique(cut[cut < 8])) == set(range(1, 8))
    assert np.all(np.asarray(losses.mixing_cutoffs(jax.random.key(0), 100, 8, 0.0)) == 8)


# --------------------------------------------------------------------------- R1


def test_r1_equals_finite_differences_on_a_tiny_critic():
    """D(x) = sum_j v_j tanh(a_j . x) per example; R1 = mean ||grad_x D||^2 by central
    differences in float64 numpy, independent of jax's autodiff."""
    rng = np.random.default_rng(0)
    a, v = rng.normal(size=(6, 5)), rng.normal(size=5)  # x has 6 features
    x = rng.normal(size=(4, 2, 3, 1))  # [N, H, W, C]: flattened to 6

    def critic_np(xs):
        return np.tanh(xs.reshape(xs.shape[0], -1) @ a) @ v  # [N]

    h = 1e-6
    flat = x.reshape(4, -1)
    grads = np.zeros_like(flat)
    for j in range(flat.shape[1]):
        step = np.zeros_like(flat)
        step[:, j] = h
        grads[:, j] = (critic_np(flat + step) - critic_np(flat - step)) / (2 * h)
    want = np.mean(np.sum(grads ** 2, axis=1))

    aj, vj = jnp.asarray(a, jnp.float32), jnp.asarray(v, jnp.float32)
    got = losses.r1_penalty(lambda xs: jnp.tanh(xs.reshape(xs.shape[0], -1) @ aj) @ vj,
                            jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(float(got), want, rtol=1e-4)


def test_truncate_and_w_avg_tracking():
    w = jnp.array([[2.0, 4.0], [0.0, 0.0]])
    w_avg = jnp.array([1.0, 1.0])
    np.testing.assert_allclose(np.asarray(losses.truncate(w, w_avg, 0.5)),
                               [[1.5, 2.5], [0.5, 0.5]])
    np.testing.assert_allclose(np.asarray(losses.track_w_avg(w_avg, w, 0.9)),
                               [0.9 + 0.1 * 1.0, 0.9 + 0.1 * 2.0])


def test_style_mixing_grid_takes_coarse_layers_from_rows_and_fine_from_columns():
    from jaxgen.stylegan.pictures import style_mixing_styles
    config = tiny_config(ema_decay="0.0", sample_from="raw")
    g, _ = generator(config, jax.random.key(0))
    state = steps.TrainState.create({"g": g, "d": None}, None,
                                    extra={"w_avg": jnp.zeros((config.w_dim,))})
    ws = np.asarray(style_mixing_styles(config, state, jax.random.key(1), crossover=3, n=2))
    layers = steps.style_layers(config)
    assert ws.shape == (9, layers, config.w_dim)  # a 3 x 3 grid, row by row
    b0, b1, a0, a1 = ws[1, 0], ws[2, 0], ws[3, 0], ws[6, 0]
    for source, index in ((b0, 1), (b1, 2), (a0, 3), (a1, 6)):  # headers: unmixed
        np.testing.assert_array_equal(ws[index], np.broadcast_to(source, ws[index].shape))
    for cell, (a, b) in {4: (a0, b0), 5: (a0, b1), 7: (a1, b0), 8: (a1, b1)}.items():
        np.testing.assert_array_equal(ws[cell, :3], np.broadcast_to(a, (3, config.w_dim)))
        np.testing.assert_array_equal(ws[cell, 3:], np.broadcast_to(b, (layers - 3,
                                                                        config.w_dim)))
