"""Flow layers against independent references: jax.jacfwd log-determinants,
exact inverses, closed-form likelihoods of the dequantized logit pipeline."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.stats import norm

from jaxgen.flows import dequantization as deq
from jaxgen.flows import layers, models
from jaxgen.nn.distributions import standard_normal_log_prob

NET = dict(hidden=8, num_blocks=1)
# flax convolutions in the conditioners (conv="flax", the default): forward-mode
# differentiable, which jax.jacfwd needs (jaxgen's "fast" convs are reverse-mode only).
CONV = dict(NET, conditioner="conv", conv="flax")
FLOW_NET = dict(NET, conv="flax")


def perturbed(variables, key, scale=0.1):
    """Random non-zero parameters: at init every coupling is the identity
    (zero last layer), which would make the log-det checks vacuous. (Much
    larger noise makes deep float32 flows too ill-conditioned to invert to 1e-5.)"""
    params = variables.get("params", {})
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noisy = [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
    return {**variables, "params": jax.tree.unflatten(tree, noisy)}


def init_perturbed(module, x, seed=0):
    return perturbed(module.init(jax.random.key(seed), x), jax.random.key(seed + 1))


def jacobian_log_det(fn, x_one):
    """log|det J| of fn at one example x_one [1, ...], by jax.jacfwd + slogdet."""
    flat = x_one.reshape(-1)
    jac = jax.jacfwd(lambda v: fn(v.reshape(x_one.shape)).reshape(-1))(flat)
    return jnp.linalg.slogdet(jac)[1]


def jacobian_log_dets(fn, x):
    """jacobian_log_det of fn at each example of x [B, ...]. [B]"""
    return jax.vmap(lambda v: jacobian_log_det(fn, v[None]))(x)


LAYER_CASES = {
    # Parity 0 of the channel coupling and parity 1 of the checkerboard are
    # inside the multi-scale flows below.
    "checkerboard": (layers.CheckerboardCoupling(parity=0, **CONV), (2, 4, 4, 2)),
    "channel_unequal_halves": (layers.ChannelCoupling(parity=1, **CONV), (2, 3, 3, 3)),
    "channel_dense_2d": (layers.ChannelCoupling(conditioner="dense", **NET), (2, 1, 1, 2)),
    "squeeze": (layers.Squeeze(), (2, 4, 4, 2)),
    "actnorm": (layers.ActNorm(), (2, 4, 4, 3)),
    "conv1x1_lu": (layers.InvertibleConv1x1(), (2, 3, 3, 4)),
    "realnvp_multiscale": (models.Flow("realnvp", (8, 8, 1), 2, 2, **FLOW_NET), (2, 8, 8, 1)),
    "glow_multiscale": (models.Flow("glow", (8, 8, 1), 2, 1, **FLOW_NET), (2, 8, 8, 1)),
    "glow_2d": (models.Flow("glow", (1, 1, 2), 1, 2, **NET), (2, 1, 1, 2)),
    # Colour: 3 channels, squeezed to 12 (realnvp: half of them factored out
    # after level 1; a second glow level's 24-channel 1x1 convolution, perturbed,
    # is too ill-conditioned in float32 to invert to 1e-5).
    "realnvp_multiscale_rgb": (models.Flow("realnvp", (4, 4, 3), 2, 1, **FLOW_NET),
                               (2, 4, 4, 3)),
    "glow_rgb": (models.Flow("glow", (4, 4, 3), 1, 2, **FLOW_NET), (2, 4, 4, 3)),
}


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_layer_inverse_and_log_det(name):
    module, shape = LAYER_CASES[name]
    x = jax.random.normal(jax.random.key(7), shape)
    variables = init_perturbed(module, x)

    @jax.jit
    def forward_with_jacobian(v):
        y, log_det = module.apply(variables, v)
        # Brute force: slogdet of the full Jacobian of one example at a time.
        expected = jacobian_log_dets(lambda u: module.apply(variables, u)[0], v)
        return y, log_det, expected

    y, log_det, expected = forward_with_jacobian(x)
    x_back, log_det_inverse = jax.jit(lambda v: module.apply(variables, v, inverse=True))(y)
    # inverse(forward(x)) == x, and the two log-dets cancel at matching points.
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(log_det + log_det_inverse, 0.0, atol=1e-4)
    # The log-det against slogdet of jax.jacfwd (the inverse's follows: it
    # inverts exactly and its log-det is minus this one).
    np.testing.assert_allclose(log_det, expected, rtol=1e-4, atol=1e-4)
    assert name == "squeeze" or float(jnp.max(jnp.abs(log_det))) > 1e-3  # not trivial


def test_logit_transform_log_det_and_inverse():
    y = jax.random.uniform(jax.random.key(0), (3, 2, 2, 1))
    z, log_det = deq.logit_transform(y, 0.05)
    expected = jax.jit(jacobian_log_dets, static_argnums=0)(
        lambda v: deq.logit_transform(v, 0.05)[0], y)
    np.testing.assert_allclose(log_det, expected, rtol=1e-5)
    y_back, log_det_inverse = deq.logit_transform(z, 0.05, inverse=True)
    np.testing.assert_allclose(y_back, y, atol=1e-6)
    np.testing.assert_allclose(log_det + log_det_inverse, 0.0, atol=1e-4)


def test_dequantized_logit_bound_matches_the_closed_form_pixel_probability():
    """One-pixel 'images' whose logit is N(0, 1) (the identity flow): P(x) is a
    difference of normal CDFs at the logits of the bin edges. The bound averaged
    over u must sit just below log P(x) (Jensen), within the curvature gap."""
    alpha, num_u = 0.05, 256
    pixels = np.arange(256, dtype=np.uint8)[:, None]                 # [256, 1]
    u = (np.arange(num_u) + 0.5) / num_u                            # midpoint rule for E_u
    def std_normal(z):
        return standard_normal_log_prob(z.reshape(z.shape[0], -1))
    bound = jnp.mean(jnp.stack([
        deq.discrete_log_likelihood_bound(std_normal, pixels, jnp.full(pixels.shape, v), alpha)
        for v in u]), axis=0)                                       # [256]
    edges = alpha + (1 - 2 * alpha) * np.arange(257) / 256.0
    logits = np.log(edges) - np.log1p(-edges)
    exact = np.log(norm.cdf(logits[1:]) - norm.cdf(logits[:-1]))    # [256]
    assert np.all(np.asarray(bound) <= exact + 1e-4)
    np.testing.assert_allclose(bound, exact, atol=2e-3)


def test_samples_map_back_to_their_pixels():
    pixels = jnp.arange(256, dtype=jnp.uint8).reshape(1, 16, 16, 1)
    noise = jax.random.uniform(jax.random.key(3), pixels.shape, maxval=0.999)
    z, _ = deq.pixels_to_flow_input(pixels, noise, 0.05)
    np.testing.assert_allclose(deq.flow_output_to_unit(z, 0.05), pixels / 255.0, atol=1e-6)


def test_actnorm_data_dependent_init_standardises_the_init_batch():
    x = 3.0 + 2.5 * jax.random.normal(jax.random.key(0), (16, 5, 5, 3)) * jnp.arange(1, 4)
    module = layers.ActNorm()
    y, _ = module.apply(module.init(jax.random.key(1), x), x)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.var(y, axis=(0, 1, 2)), 1.0, rtol=1e-4)


def test_conv1x1_lu_log_det_is_that_of_the_weight_matrix():
    x = jax.random.normal(jax.random.key(0), (2, 3, 5, 6))
    module = layers.InvertibleConv1x1()
    fresh = module.init(jax.random.key(1), x)
    p, c = fresh["params"], fresh["constants"]
    w0 = layers.lu_weight(c["permutation"], p["lower"], p["upper"], c["sign"], p["log_s"])
    np.testing.assert_allclose(w0 @ w0.T, np.eye(6), atol=1e-5)  # starts as a rotation
    variables = perturbed(fresh, jax.random.key(2))
    p = variables["params"]
    w = layers.lu_weight(c["permutation"], p["lower"], p["upper"], c["sign"], p["log_s"])
    y, log_det = module.apply(variables, x)
    np.testing.assert_allclose(y, np.einsum("ij,bhwj->bhwi", w, x), rtol=1e-4, atol=1e-5)
    expected = 3 * 5 * np.linalg.slogdet(np.asarray(w, np.float64))[1]
    np.testing.assert_allclose(log_det, expected, rtol=1e-4)


def test_density_of_a_2d_flow_integrates_to_one():
    flow = models.Flow("realnvp", (1, 1, 2), 1, 4, **NET)
    variables = init_perturbed(flow, jnp.zeros((2, 1, 1, 2)), seed=3)
    side, half = 600, 12.0
    axis = jnp.linspace(-half, half, side)
    xs, ys = jnp.meshgrid(axis, axis)
    points = jnp.stack([xs.ravel(), ys.ravel()], 1).reshape(-1, 1, 1, 2)
    z, log_det = flow.apply(variables, points)
    density = jnp.exp(standard_normal_log_prob(z) + log_det)
    integral = float(jnp.sum(density) * (axis[1] - axis[0]) ** 2)
    assert abs(integral - 1.0) < 0.02, integral
    # The flow is far from the standard normal it started as: the test is not vacuous.
    base = jnp.exp(standard_normal_log_prob(points.reshape(-1, 2)))
    assert float(jnp.max(jnp.abs(density - base))) > 0.01


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (8, 12, 3)])
def test_latent_shapes_cover_every_dimension(shape):
    for arch, levels in (("realnvp", 3), ("glow", 2)):
        shapes = models.latent_shapes(arch, shape, levels)
        assert sum(math.prod(s) for s in shapes) == math.prod(shape)


def test_levels_that_squeeze_to_an_odd_size_are_refused():
    with pytest.raises(ValueError, match="divisible by 8; 28x28 reaches an odd size 7x7"):
        models.check_architecture("glow", (28, 28, 1), 3)
    with pytest.raises(ValueError, match="divisible by 4; 32x30"):
        models.check_architecture("realnvp", (32, 30, 3), 3)
    models.check_architecture("realnvp", (32, 28, 3), 3)  # 28 = 4 x 7: fits


def test_fast_conv_conditioner_is_the_same_function_with_the_same_parameters():
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
    flax_net = layers.make_conditioner("conv", out_channels=3, conv="flax", **NET)
    gemm_net = layers.make_conditioner("conv", out_channels=3, conv="fast", **NET)
    variables = perturbed(flax_net.init(jax.random.key(1), x), jax.random.key(2))
    assert (jax.tree.structure(variables)
            == jax.tree.structure(gemm_net.init(jax.random.key(1), x)))
    for a, b in zip(flax_net.apply(variables, x), gemm_net.apply(variables, x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------- variational dequantization

DEQUANTIZER = deq.VariationalDequantizer(hidden=8, num_blocks=1, num_couplings=2, conv="flax")


def test_variational_dequantizer_log_q_is_the_density_of_its_noise():
    """log q(u | x) = log N(eps) - log|det du/deps|, the Jacobian by jax.jacfwd, for
    each image with its own context; u lies in (0, 1) and depends on the pixels."""
    pixels = jax.random.randint(jax.random.key(0), (2, 4, 4, 1), 0, 256).astype(jnp.uint8)
    eps = jax.random.normal(jax.random.key(1), pixels.shape)
    variables = perturbed(DEQUANTIZER.init(jax.random.key(2), pixels, eps), jax.random.key(3))
    u, log_q = DEQUANTIZER.apply(variables, pixels, eps)
    assert float(u.min()) > 0 and float(u.max()) < 1
    for i in range(len(pixels)):
        log_det = jacobian_log_det(
            lambda e: DEQUANTIZER.apply(variables, pixels[i:i + 1], e)[0], eps[i:i + 1])
        expected = norm.logpdf(np.asarray(eps[i], np.float64)).sum() - float(log_det)
        np.testing.assert_allclose(log_q[i], expected, rtol=1e-4, atol=1e-3)
    other_u, _ = DEQUANTIZER.apply(variables, 255 - pixels, eps)
    assert float(jnp.max(jnp.abs(other_u - u))) > 1e-3  # conditioned on x


def test_fresh_variational_dequantizer_is_logistic_normal():
    """Zero-initialised last layers: u = sigmoid(eps), log q = log N(eps) - sum log u (1 - u)."""
    pixels = jnp.full((3, 4, 4, 1), 17, jnp.uint8)
    eps = jax.random.normal(jax.random.key(4), pixels.shape)
    u, log_q = DEQUANTIZER.apply(DEQUANTIZER.init(jax.random.key(5), pixels, eps), pixels, eps)
    e, s = np.asarray(eps, np.float64), np.asarray(jax.nn.sigmoid(eps), np.float64)
    np.testing.assert_allclose(u, s, rtol=1e-6)
    expected = (norm.logpdf(e) - np.log(s * (1 - s))).reshape(3, -1).sum(1)
    np.testing.assert_allclose(log_q, expected, rtol=1e-5)


def test_trained_variational_dequantizer_tightens_the_bound_but_never_passes_it():
    """Pixels 0 on a 2x2 image under the density p(y) = prod 2 y on [0, 1)^4:
    P(x) = prod (2 x + 1) / 256^2 exactly. Uniform noise leaves a gap of
    1 - ln 2 = 0.307 nats per pixel; q(u | x) trained on the bound must close
    most of it, and its average bound must stay below log P(x) (Jensen)."""
    alpha, num_dims = 0.05, 4
    pixels = jnp.zeros((256, 2, 2, 1), jnp.uint8)
    exact = num_dims * math.log(1 / 256 ** 2)                      # log P(x) per image

    def log_density_of_logits(z):
        y, log_dy_dz = deq.logit_transform(z, alpha, inverse=True)
        return layers.sum_per_example(jnp.log(2 * y)) + log_dy_dz  # log p_y(y) + log|dy/dz|

    def mean_bound(params, key):
        u, log_q = DEQUANTIZER.apply({"params": params}, pixels,
                                     jax.random.normal(key, pixels.shape))
        return jnp.mean(deq.discrete_log_likelihood_bound(log_density_of_logits, pixels, u,
                                                          alpha, log_q))

    uniform = float(jnp.mean(deq.discrete_log_likelihood_bound(
        log_density_of_logits, pixels, jax.random.uniform(jax.random.key(0), pixels.shape),
        alpha)))
    assert abs(exact - uniform - num_dims * (1 - math.log(2))) < 0.1  # the known gap
    params = DEQUANTIZER.init(jax.random.key(1), pixels, jnp.zeros(pixels.shape))["params"]
    optimizer = optax.adam(3e-2)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, key):
        grads = jax.grad(lambda p: -mean_bound(p, key))(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    for i in range(300):
        params, opt_state = step(params, opt_state, jax.random.key(100 + i))
    trained = float(jnp.mean(jnp.stack([mean_bound(params, jax.random.key(10_000 + i))
                                        for i in range(8)])))         # 2048 draws
    assert trained <= exact + 0.01                   # a lower bound on log P(x)
    assert exact - trained < 0.25 * (exact - uniform)  # closes most of the gap (94% seen)
