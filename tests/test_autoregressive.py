"""Autoregressive models against brute force: causality, blind spot,
normalisation, the likelihood heads, and the two samplers."""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.autoregressive import likelihoods, losses, sampling
from jaxgen.autoregressive.models import GatedPixelCNN, PixelCNN
from jaxgen.autoregressive.pixelcnn_pp import (PixelCNNPP, down_right_taps,
                                               num_blocks)
from jaxgen.autoregressive.pixelrnn import DiagonalBiLSTM, RowLSTM, skew, unskew
from jaxgen.nn.masked import (TapConv, horizontal_taps, pad_buffer, raster_causal_taps,
                              taps_mask, vertical_taps)

TINY = dict(channels=6, num_layers=2, head_hidden=8, num_mixtures=2, first_kernel_size=3)
NETWORKS = {"plain": PixelCNN, "gated": GatedPixelCNN, "rowlstm": RowLSTM,
            "diagonal": DiagonalBiLSTM,
            # One down/up level: 5x5 -> 3x3 -> 5x5 (odd: rounded up, then cropped).
            "pixelcnn_pp": functools.partial(PixelCNNPP, num_levels=2)}
LAYERS_5X5 = {"rowlstm": 2, "diagonal": 2, "pixelcnn_pp": 1}  # 4 for the others


def init_network(cls, shape=(1, 5, 5), **fields):
    model = cls(**{**TINY, **fields})
    cond = jnp.ones((shape[0], model.num_classes)) if model.num_classes else None
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape, jnp.int32), cond)
    return model, random_params(shapes)


def random_params(shapes, seed=0):
    """Parameters drawn with NumPy (no XLA compilation of the initialisers):
    fan-in scaled normal weights and nonzero biases, so no unit is exactly 0
    by accident."""
    rng = np.random.default_rng(seed)

    def draw(leaf):
        scale = 1.0 / np.sqrt(np.prod(leaf.shape[:-1])) if len(leaf.shape) > 1 else 0.3
        return jnp.asarray(rng.normal(size=leaf.shape) * scale, jnp.float32)

    return jax.tree.map(draw, shapes)


def dependency_matrix(model, params, height, width, num_inputs=1):
    """D[p, q] = True iff some output at pixel p has a nonzero derivative with
    respect to the input at pixel q (raster indices), from the full Jacobian,
    OR-ed over `num_inputs` random inputs (at one input a pixel's ReLUs in the
    head can all be off, which hides every dependency of that pixel)."""
    x = jax.random.normal(jax.random.key(2), (num_inputs, height, width, model.input_channels))

    def out(features):
        return model.apply(params, features, method="from_features")[0]  # [H, W, n]

    jac = jax.jit(jax.vmap(jax.jacfwd(out)))(x[:, None])  # [N, H, W, n, 1, H, W, C]
    dep = jnp.any(jac != 0, axis=(0, 3, 4, 7))  # [H, W, H, W]
    return np.asarray(dep).reshape(height * width, height * width)


@functools.lru_cache(maxsize=None)
def dependencies_5x5(name):
    """Dependency matrix of a deep enough network (4 layers, fewer where
    LAYERS_5X5 says) on a 5x5 grid, OR-ed over three inputs (shared by tests)."""
    model, params = init_network(NETWORKS[name], num_layers=LAYERS_5X5.get(name, 4))
    return dependency_matrix(model, params, 5, 5, num_inputs=3)


# ----------------------------------------------------------------- masked layers


@pytest.mark.parametrize("taps", [raster_causal_taps(5, False), raster_causal_taps(3, True),
                                  vertical_taps(3, True), horizontal_taps(5, False)])
def test_tap_conv_equals_a_masked_xla_convolution(taps):
    """Against lax.conv with the full k x k kernel zeroed outside the mask."""
    k = 5
    conv = TapConv(features=4, in_features=3, taps=taps)
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    params = random_params(jax.eval_shape(conv.init, jax.random.key(1), x))
    kernel = np.zeros((k, k, 3, 4), np.float32)
    for t, (di, dj) in enumerate(taps):
        kernel[k // 2 + di, k // 2 + dj] = params["params"]["kernel"][t]
    assert np.all((np.abs(kernel).sum((2, 3)) > 0) == taps_mask(taps, k).astype(bool))
    expected = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    expected = expected + params["params"]["bias"]
    np.testing.assert_allclose(conv.apply(params, x), expected, rtol=1e-5, atol=1e-5)


def test_tap_conv_at_pixel_and_at_row_read_the_whole_image_result():
    conv = TapConv(features=4, in_features=3, taps=vertical_taps(3, True))
    x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3))
    params = random_params(jax.eval_shape(conv.init, jax.random.key(1), x))
    full = conv.apply(params, x)
    buffer = pad_buffer(x, 3)
    for i, j in [(0, 0), (2, 5), (4, 3)]:
        np.testing.assert_allclose(conv.apply(params, buffer, i, j, 3, method="at_pixel"),
                                   full[:, i, j], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(conv.apply(params, buffer, 3, 3, method="at_row"), full[:, 3],
                               rtol=1e-5, atol=1e-6)


def test_mask_a_and_b_shapes():
    np.testing.assert_array_equal(taps_mask(raster_causal_taps(3, False), 3),
                                  [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(taps_mask(raster_causal_taps(3, True), 3),
                                  [[1, 1, 1], [1, 1, 0], [0, 0, 0]])


# ----------------------------------------------------------------- causality


@pytest.mark.parametrize("name", list(NETWORKS))
def test_outputs_never_depend_on_the_current_or_later_pixels(name):
    """Jacobian of every output at pixel p w.r.t. inputs at pixels q >= p is exactly 0."""
    dep = dependencies_5x5(name)
    assert not np.any(np.triu(dep)), np.argwhere(np.triu(dep))[:5]
    assert np.any(np.tril(dep, -1))  # the test can fail: outputs do depend on the past


def test_plain_pixelcnn_has_a_blind_spot_and_the_gated_one_does_not():
    """Enough layers that the receptive fields cover the 5x5 image: every pixel
    before the last row's centre is seen by the gated network; the plain one
    misses pixels up and to the right (e.g. (3, 4) from (4, 2))."""
    width = 5
    p = 4 * width + 2
    seen_plain = dependencies_5x5("plain")[p, :p]
    seen_gated = dependencies_5x5("gated")[p, :p]
    assert seen_gated.all()
    blind = [divmod(q, width) for q in np.flatnonzero(~seen_plain)]
    assert (3, 4) in blind and all(i < 4 and j > 2 for i, j in blind), blind


def test_pixelcnn_pp_depends_on_exactly_every_earlier_pixel():
    """5x5 through the U-Net (5 -> 3 -> 5), one block per resolution: the
    dependency matrix is exactly the strict lower triangle. No later pixel
    leaks in through the strided convolutions or the sub-pixel upsampling
    (rounding 5 up to 6 and cropping included), and no earlier one is missed:
    no blind spot, the u / ul union covers the rows above in full."""
    np.testing.assert_array_equal(dependencies_5x5("pixelcnn_pp"),
                                  np.tril(np.ones((25, 25), bool), -1))


def test_pixelcnn_pp_on_28x28_has_three_resolutions():
    """The family's grid: 28 -> 14 -> 7 and back (shapes only: no compilation)."""
    model, params = init_network(PixelCNNPP, shape=(2, 28, 28), channels=4, num_layers=1,
                                 head="logistic_mixture", num_classes=3)
    n_down, n_up = num_blocks(3, 1)
    assert (n_down, n_up) == (3, 5)
    names = set(params["params"])
    assert {"u_down_1", "ul_up_1", f"ul_blocks_{n_down + n_up - 1}"} <= names
    assert "u_down_2" not in names
    out = jax.eval_shape(model.apply, params, jnp.zeros((2, 28, 28), jnp.int32),
                         jnp.ones((2, 3)), jax.random.key(0))
    assert out.shape == (2, 28, 28, 3 * TINY["num_mixtures"])


def test_pixelcnn_pp_naive_sampler_follows_the_labels_and_the_cached_one_is_refused():
    """3x4 -> 2x2 -> 3x4: the naive sampler draws valid values; a different
    label (class biases) gives a different grid from the same key."""
    height, width, num = 3, 4, 3
    model, params = init_network(NETWORKS["pixelcnn_pp"], shape=(1, height, width),
                                 num_layers=1, head="logistic_mixture", num_classes=3)
    key = jax.random.key(7)
    naive = jax.jit(lambda c: sampling.sample_naive(model, params, key, num, height, width, c))
    labels = jnp.arange(num) % 3
    a = np.asarray(naive(jax.nn.one_hot(labels, 3)))
    b = np.asarray(naive(jax.nn.one_hot(2 - labels, 3)))
    assert a.min() >= 0 and a.max() < 256 and len(np.unique(a)) > 3
    assert np.any(a != b)
    with pytest.raises(NotImplementedError, match="naive"):
        sampling.sample_cached(model, params, key, num, height, width)


def test_skew_shifts_row_i_right_by_i_and_unskew_undoes_it():
    x = jnp.arange(1.0, 13.0).reshape(1, 3, 4, 1)
    np.testing.assert_array_equal(skew(x)[0, :, :, 0], [[1, 2, 3, 4, 0, 0],
                                                        [0, 5, 6, 7, 8, 0],
                                                        [0, 0, 9, 10, 11, 12]])
    np.testing.assert_array_equal(unskew(skew(x), 4), x)


def test_diagonal_bilstm_sees_every_earlier_pixel_but_the_previous_rows_last():
    """Brute force, 5x5, 2 layers, 3x3 mask-A first layer (radius r = 1).
    Left-to-right covers the quadrant above-left, the down-shifted
    right-to-left pass the rows above from column j - r on: no blind spot up
    and to the right, unlike the plain PixelCNN. One pixel stays unseen at
    any depth: (i - 1, W - 1) from (i, j < W - 1 - r). Every layer's
    features at a pixel exclude that pixel, and the only later positions
    that see (i - 1, W - 1) are row i's from column W - 1 - r (the mask-A
    window), which left-to-right reaches only at those columns and the
    right-to-left pass (rows < i) never does."""
    width, r = 5, 1
    expected = np.tril(np.ones((25, 25), bool), -1)
    for i in range(1, 5):
        for j in range(width - 1 - r):
            expected[i * width + j, i * width - 1] = False
    np.testing.assert_array_equal(dependencies_5x5("diagonal"), expected)


def test_diagonal_bilstm_naive_sampler_draws_and_the_cached_one_is_refused():
    height, width, num = 3, 4, 3
    model, params = init_network(DiagonalBiLSTM, shape=(1, height, width), num_layers=1,
                                 head="logistic_mixture", num_classes=3)
    key, cond = jax.random.key(7), jax.nn.one_hot(jnp.arange(num) % 3, 3)
    a = np.asarray(jax.jit(lambda p: sampling.sample_naive(model, p, key, num, height, width,
                                                           cond))(params))
    assert a.shape == (num, height, width)
    assert a.min() >= 0 and a.max() < 256 and len(np.unique(a)) > 3
    with pytest.raises(NotImplementedError, match="naive"):
        sampling.sample_cached(model, params, key, num, height, width, cond)


@pytest.mark.parametrize("stride", [1, 2])
def test_a_strided_tap_conv_is_the_tap_conv_at_every_stride_th_pixel(stride):
    taps = down_right_taps(3)
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    conv = TapConv(features=4, in_features=3, taps=taps)
    params = random_params(jax.eval_shape(conv.init, jax.random.key(1), x))
    expected = jax.jit(conv.apply)(params, x)[:, ::stride, ::stride]
    strided = TapConv(features=4, in_features=3, taps=taps, stride=stride)
    np.testing.assert_allclose(jax.jit(strided.apply)(params, x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_probabilities_of_all_grids_sum_to_one(name):
    """Exact normalisation by enumeration: 4 categories on a 2x3 grid, 4096 grids.
    This fails if any conditional peeks at its own or a later pixel."""
    k, shape = 4, (2, 3)
    model, params = init_network(NETWORKS[name], shape=(1, *shape), num_categories=k,
                                 input_embedding=3,
                                 num_layers=1 if name == "pixelcnn_pp" else TINY["num_layers"])
    grids = jnp.asarray(list(itertools.product(range(k), repeat=6)), jnp.int32).reshape(-1, *shape)
    out = jax.jit(model.apply)(params, grids)  # one compilation, not one per op
    log_p = -likelihoods.image_nll("softmax", out, grids)
    np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_p))), 1.0, rtol=1e-4)


# ----------------------------------------------------------------- heads


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logistic_mixture_pmf_sums_to_one_and_matches_numpy(seed):
    m = 4
    out = jax.random.normal(jax.random.key(seed), (3 * m,)) * jnp.array([2.0] * m + [0.3] * m
                                                                         + [1.5] * m)
    out = out.at[2 * m:].add(-3.0)
    values = jnp.arange(256)
    log_p = likelihoods.log_prob("logistic_mixture", jnp.broadcast_to(out, (256, 3 * m)), values)
    np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_p))), 1.0, atol=1e-5)

    # Reference: sum_k pi_k (CDF_k(upper) - CDF_k(lower)) in float64.
    o = np.asarray(out, np.float64)
    pi = np.exp(o[:m] - o[:m].max())
    pi /= pi.sum()
    mean, scale = o[m:2 * m] + 0.5, np.exp(np.maximum(o[2 * m:], -7.0))
    v = np.arange(256)[:, None]
    cdf = lambda x: 1 / (1 + np.exp(-(x - mean) / scale))  # noqa: E731
    upper = np.where(v == 255, 1.0, cdf((v + 0.5) / 255))
    lower = np.where(v == 0, 0.0, cdf((v - 0.5) / 255))
    expected = np.log(np.maximum(((upper - lower) * pi).sum(1), 1e-30))
    keep = expected > -20  # float32 tails underflow differently; compare where it matters
    np.testing.assert_allclose(np.asarray(log_p)[keep], expected[keep], atol=2e-3)


def test_logistic_mixture_sampler_draws_from_the_pmf():
    """Histogram of 100k draws against the pmf (total variation distance)."""
    out = jnp.array([0.0, 1.0, 0.1, 0.6, -3.0, -2.0])  # 2 components
    n = 100_000
    draws = likelihoods.sample_values("logistic_mixture", jax.random.key(0),
                                      jnp.broadcast_to(out, (n, 6)))
    hist = np.bincount(np.asarray(draws), minlength=256) / n
    pmf = np.exp(np.asarray(likelihoods.log_prob(
        "logistic_mixture", jnp.broadcast_to(out, (256, 6)), jnp.arange(256))))
    assert 0.5 * np.abs(hist - pmf).sum() < 0.02


def test_softmax_head_log_prob_matches_numpy():
    logits = np.random.default_rng(0).normal(size=(3, 7)).astype(np.float32)
    values = np.array([0, 6, 3])
    expected = logits[np.arange(3), values] - np.log(np.exp(logits.astype(np.float64)).sum(1))
    np.testing.assert_allclose(likelihoods.log_prob("softmax", logits, values), expected,
                               rtol=1e-5)


# ----------------------------------------------------------------- samplers


@pytest.mark.parametrize("name,head,fields", [
    ("plain", "logistic_mixture", {}),
    ("gated", "logistic_mixture", {"num_classes": 3}),
    ("gated", "softmax", {"num_categories": 16, "input_embedding": 4}),  # a VQ-VAE code prior
    ("rowlstm", "softmax", {}),
    # Colour: 3 x 2 pixels of 3 channels, a 3 x 6 grid (channel biases at each step).
    ("plain", "softmax", {"image_channels": 3}),
    ("gated", "logistic_mixture", {"image_channels": 3, "num_classes": 3}),
    ("rowlstm", "logistic_mixture", {"image_channels": 3}),
])
def test_cached_sampler_equals_naive_sampler(name, head, fields):
    height, width, num = 3, 2 * fields.get("image_channels", 2), 3
    model, params = init_network(NETWORKS[name], shape=(1, height, width), head=head, **fields)
    cond = jax.nn.one_hot(jnp.arange(num) % 3, 3) if fields.get("num_classes") else None
    key = jax.random.key(7)
    naive = jax.jit(lambda p: sampling.sample_naive(model, p, key, num, height, width, cond))
    cached = jax.jit(lambda p: sampling.sample_cached(model, p, key, num, height, width, cond))
    a, b = np.asarray(naive(params)), np.asarray(cached(params))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < model.num_categories and len(np.unique(a)) > 3


# ----------------------------------------------------------------- colour

RGB = 3  # channels: an H x W x 3 image is the grid [H, W * 3] (losses.py, "Channels")


def test_image_grid_is_the_raster_over_row_column_channel():
    """Grid raster order = NHWC flattening = (row, column, channel) order, and back."""
    images = np.random.default_rng(0).integers(0, 256, (2, 3, 4, RGB)).astype(np.uint8)
    grid = np.asarray(losses.image_grid(images))
    assert grid.shape == (2, 3, 4 * RGB)
    np.testing.assert_array_equal(grid.reshape(2, -1), images.reshape(2, -1))
    np.testing.assert_array_equal(losses.grid_images(grid, RGB), images)


@functools.lru_cache(maxsize=None)
def rgb_dependencies(name, height=3, width=3):
    """Dependency matrix over the (row, column, channel) raster of an RGB
    network on height x width pixels (the grid [height, width * 3])."""
    model, params = init_network(NETWORKS[name], shape=(1, height, width * RGB),
                                 num_layers=LAYERS_5X5.get(name, 4), image_channels=RGB)
    assert "channel_bias" in params["params"]
    return dependency_matrix(model, params, height, width * RGB, num_inputs=3)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_rgb_outputs_depend_only_on_earlier_values_and_see_their_own_pixels_channels(name):
    """Brute force (jax.jacfwd): the output at raster position (i, j, c) has zero
    derivative with respect to every input at (i, j, c) and after, and nonzero
    ones with respect to the earlier channels of its own pixel (G sees R, B
    sees R and G)."""
    dep = rgb_dependencies(name)
    assert not np.any(np.triu(dep)), np.argwhere(np.triu(dep))[:5]
    for p in range(len(dep)):
        channel = p % RGB
        assert all(dep[p, p - k] for k in range(1, channel + 1)), (name, p)


def test_rgb_likelihood_is_the_sum_of_brute_force_conditionals():
    """log p(x) of one forward pass = sum over positions p of log p(x_p | x_<p),
    each conditional from its own forward pass on an image whose values from p
    on are replaced (by 255 - x): exactly the chain rule over (row, column,
    channel), so the likelihood is exact."""
    height, width = 2, 2
    model, params = init_network(GatedPixelCNN, shape=(1, height, width * RGB),
                                 head="logistic_mixture", image_channels=RGB)
    images = np.random.default_rng(1).integers(0, 256, (2, height, width, RGB)).astype(np.uint8)
    tokens = losses.image_grid(images)  # [2, H, W * 3]
    apply = jax.jit(model.apply)
    one_pass = -likelihoods.image_nll("logistic_mixture", apply(params, tokens), tokens)
    flat = np.asarray(tokens).reshape(2, -1)
    brute = np.zeros(2)
    for p in range(flat.shape[1]):
        scrambled = flat.copy()
        scrambled[:, p:] = 255 - scrambled[:, p:]
        out = apply(params, jnp.asarray(scrambled.reshape(tokens.shape)))
        out_p = out.reshape(2, -1, out.shape[-1])[:, p]
        brute += np.asarray(likelihoods.log_prob("logistic_mixture", out_p, flat[:, p]))
    np.testing.assert_allclose(one_pass, brute, rtol=1e-5)


def test_rgb_mixture_is_normalised_over_256_values_at_every_channel():
    """At every position of an RGB image, each channel's conditional mixture
    gives the 256 values probabilities that sum to 1."""
    model, params = init_network(GatedPixelCNN, shape=(1, 3, 3 * RGB), head="logistic_mixture",
                                 image_channels=RGB)
    tokens = jax.random.randint(jax.random.key(3), (2, 3, 3 * RGB), 0, 256)
    out = jax.jit(model.apply)(params, tokens)  # [2, 3, 9, 3M]

    @jax.jit
    def total_probability(out):  # [2, 3, 9]: sum over the 256 values at each position
        values = jnp.arange(256)[:, None, None, None]
        log_p = likelihoods.log_prob("logistic_mixture", out[None], values)  # [256, 2, 3, 9]
        return jnp.exp(jax.nn.logsumexp(log_p, axis=0))

    np.testing.assert_allclose(total_probability(out), 1.0, atol=1e-5)


def test_the_channel_bias_tells_the_channels_apart():
    """On a constant image, interior grid columns see the same context; only
    the channel bias separates them: equal outputs for the same channel,
    different ones for different channels."""
    model, params = init_network(PixelCNN, shape=(1, 3, 4 * RGB), num_layers=1,
                                 image_channels=RGB)
    out = np.asarray(jax.jit(model.apply)(params, jnp.full((1, 3, 4 * RGB), 7, jnp.int32)))
    row = out[0, 2]  # [12, n_out]; columns 3..8 are interior for a 3x3 first layer
    np.testing.assert_allclose(row[3], row[6], rtol=1e-5, atol=1e-6)  # both red
    assert np.max(np.abs(row[3] - row[4])) > 1e-3                    # red vs green


def test_probabilities_of_all_rgb_images_sum_to_one():
    """Exact normalisation by enumeration over (row, column, channel): 4
    categories, 1 x 2 pixels of 3 channels, all 4096 images."""
    k = 4
    model, params = init_network(GatedPixelCNN, shape=(1, 1, 2 * RGB), num_categories=k,
                                 input_embedding=3, image_channels=RGB)
    grids = jnp.asarray(list(itertools.product(range(k), repeat=6)), jnp.int32).reshape(-1, 1, 6)
    log_p = -likelihoods.image_nll("softmax", jax.jit(model.apply)(params, grids), grids)
    np.testing.assert_allclose(float(jnp.sum(jnp.exp(log_p))), 1.0, rtol=1e-4)
