"""DANN: the gradient-reversal layer, the schedules, and what the objective
sends to each network."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.dann import losses, steps
from jaxgen.dann.models import make_networks, to_input
from jaxgen.nn.gradient_reversal import ganin_lambda, ganin_lr_factor, reverse_gradient

from jaxgen.engine import config as config_lib

from tiny_configs import tiny_overrides


def test_reversal_is_identity_forward_and_negates_scaled_gradient():
    x = jax.random.normal(jax.random.key(0), (3, 5))
    w = jax.random.normal(jax.random.key(1), (5,))

    def downstream(v):  # any non-linear function of its input
        return jnp.sum(jnp.tanh(v @ w) ** 2)

    for lam in (0.0, 0.3, 1.0, 2.5):
        np.testing.assert_array_equal(reverse_gradient(x, lam), x)
        plain = jax.grad(downstream)(x)
        through = jax.grad(lambda v: downstream(reverse_gradient(v, lam)))(x)
        np.testing.assert_allclose(through, -lam * plain, rtol=1e-6, atol=1e-7)


def test_reversal_under_jit_with_traced_lambda():
    f = jax.jit(jax.grad(lambda v, lam: jnp.sum(reverse_gradient(v, lam) * 3.0)))
    np.testing.assert_allclose(f(jnp.ones(4), jnp.float32(0.5)), np.full(4, -1.5))


def test_ganin_schedules():
    # lambda_p = 2 / (1 + exp(-10 p)) - 1; mu_p / mu_0 = (1 + 10 p) ** -0.75
    for p in (0.0, 0.1, 0.5, 1.0):
        np.testing.assert_allclose(ganin_lambda(p), 2 / (1 + np.exp(-10 * p)) - 1, rtol=1e-6)
        np.testing.assert_allclose(ganin_lr_factor(p), (1 + 10 * p) ** -0.75, rtol=1e-6)
    assert float(ganin_lambda(0.0)) == 0.0 and float(ganin_lr_factor(0.0)) == 1.0


def _setup(batch_size=8, **overrides):
    config = config_lib.build_config("dann", overrides=tiny_overrides(
        "dann", batch_size=batch_size, **overrides))
    rng = np.random.default_rng(0)
    half = batch_size // 2
    batch = {"image": rng.integers(0, 256, (batch_size, 28, 28, 3)).astype(np.uint8),
             "label": np.concatenate([rng.integers(0, 10, half), np.full(half, -1)]).astype(
                 np.int32),
             "domain": np.repeat(np.arange(2), half).astype(np.int32)}
    state = steps.init(config, jax.random.key(0), batch)
    return config, state, {k: jnp.asarray(v) for k, v in batch.items()}


def test_features_get_reversed_domain_gradient_and_heads_do_not():
    config, state, batch = _setup()
    nets = make_networks(config, 10)

    def domain_term(params, lam):  # the domain part of the objective, through the layer
        return losses.dann_loss(nets, params, batch, lam, 1.0)[0] - losses.dann_loss(
            nets, params, {k: v for k, v in batch.items() if k != "domain"}, lam, 1.0)[0]

    def domain_term_plain(params):  # the same loss with no reversal anywhere
        feats = nets["features"].apply(params["features"], to_input(batch["image"]))
        return losses.domain_loss(nets["domain"].apply(params["domain"], feats),
                                  batch["domain"])[0]

    lam = 0.7
    got = jax.grad(domain_term)(state.params, lam)
    plain = jax.grad(domain_term_plain)(state.params)
    for a, b in zip(jax.tree.leaves(got["features"]), jax.tree.leaves(plain["features"])):
        np.testing.assert_allclose(a, -lam * b, rtol=1e-4, atol=1e-6)
    for a, b in zip(jax.tree.leaves(got["domain"]), jax.tree.leaves(plain["domain"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(got["label"]))


def test_hidden_target_labels_do_not_enter_the_label_loss():
    config, state, batch = _setup()
    nets = make_networks(config, 10)
    no_domain = {k: v for k, v in batch.items() if k != "domain"}
    labelled = batch["label"] >= 0
    source_only = {k: v[labelled] for k, v in no_domain.items()}
    mixed, _ = losses.dann_loss(nets, state.params, no_domain, 1.0, 1.0)
    alone, _ = losses.dann_loss(nets, state.params, source_only, 1.0, 1.0)
    np.testing.assert_allclose(mixed, alone, rtol=1e-6)


@pytest.mark.parametrize("adapt", [True, False])
def test_lambda_follows_the_schedule(adapt):
    config, _, _ = _setup(steps="100", adapt=str(adapt).lower())
    lam = float(steps.reversal_weight(config, 50))
    np.testing.assert_allclose(lam, (2 / (1 + np.exp(-5.0)) - 1) if adapt else 0.0, rtol=1e-6)


def test_source_only_leaves_features_untouched_by_the_domain_loss():
    config, state, batch = _setup(adapt="false")
    new_state, metrics = steps.train_step(config, state, batch, jax.random.key(0))
    # With lambda 0 the same step without the domain field moves the features equally.
    plain, _ = steps.train_step(config, state, {k: v for k, v in batch.items()
                                                if k != "domain"}, jax.random.key(0))
    for a, b in zip(jax.tree.leaves(new_state.params["features"]),
                    jax.tree.leaves(plain.params["features"])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert float(metrics["lambda"]) == 0.0 and 0.0 <= float(metrics["domain_accuracy"]) <= 1.0
