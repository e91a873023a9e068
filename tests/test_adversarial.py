"""FGSM and PGD on a tiny linear classifier whose input gradient is known in closed form.

For logits = flatten(x) @ W + b the cross-entropy gradient with respect to
the image is W @ (softmax(logits) - onehot(label)), reshaped to the image:
the tests compare the attacks against that, not against autodiff.
No trained weights: everything runs in a few seconds.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.classifier import adversarial

SHAPE = (6, 5, 5, 1)  # [B, H, W, C]
NUM_CLASSES = 3
DIM = 5 * 5 * 1


@pytest.fixture(scope="module")
def linear():
    """(logits_fn, W, b, images, labels) for a random linear 3-class model."""
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(DIM, NUM_CLASSES)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(NUM_CLASSES,)), jnp.float32)
    # Some pixels at exactly 0 and 1, so clipping at the image range is exercised.
    images = rng.uniform(-0.2, 1.2, size=SHAPE).clip(0.0, 1.0).astype(np.float32)
    labels = jnp.asarray(rng.integers(0, NUM_CLASSES, size=SHAPE[0]), jnp.int32)

    def logits_fn(x):
        return x.reshape(x.shape[0], -1) @ w + b  # [B, K]
    return logits_fn, w, b, jnp.asarray(images), labels


def closed_form_gradient(w, b, images, labels):
    """d CE / d x = W (softmax - onehot), per example. [B, H, W, C]"""
    logits = images.reshape(images.shape[0], -1) @ w + b
    delta = jax.nn.softmax(logits) - jax.nn.one_hot(labels, NUM_CLASSES)  # [B, K]
    return (delta @ w.T).reshape(images.shape)


def test_gradient_matches_closed_form(linear):
    logits_fn, w, b, images, labels = linear
    grad = adversarial.input_gradient(logits_fn, images, labels)
    np.testing.assert_allclose(grad, closed_form_gradient(w, b, images, labels), atol=1e-5)


@pytest.mark.parametrize("epsilon", [0.05, 0.3])
def test_fgsm_moves_each_pixel_by_epsilon_along_gradient_sign(linear, epsilon):
    logits_fn, w, b, images, labels = linear
    sign = np.sign(closed_form_gradient(w, b, images, labels))
    assert np.all(sign != 0)  # a random linear model has no zero gradient entries
    adv = np.asarray(jax.jit(functools.partial(adversarial.fgsm, logits_fn))(
        images, labels, epsilon))
    expected = np.clip(np.asarray(images) + epsilon * sign, 0.0, 1.0)
    np.testing.assert_allclose(adv, expected, atol=1e-6)
    # Where no clipping happened, the move is exactly +-epsilon in the gradient's direction.
    moved = np.asarray(adv - images)
    free = (expected > 0.0) & (expected < 1.0)
    assert free.mean() > 0.5
    np.testing.assert_allclose(moved[free], (epsilon * sign)[free], atol=1e-6)
    # Where it did, the pixel is pinned to the bound it was pushed toward.
    assert np.all(adv[(sign > 0) & ~free] == 1.0)
    assert np.all(adv[(sign < 0) & ~free] == 0.0)


@pytest.mark.parametrize("use_key", [False, True])
def test_pgd_stays_in_epsilon_ball_and_image_range(linear, use_key):
    logits_fn, _, _, images, labels = linear
    epsilon = 0.1
    key = jax.random.key(1) if use_key else None
    adv = adversarial.pgd(logits_fn, images, labels, epsilon, step_size=0.04, num_steps=7,
                          key=key)
    assert adv.shape == images.shape
    assert float(jnp.max(jnp.abs(adv - images))) <= epsilon + 1e-6
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    # It did move: the budget is used, not left at zero.
    assert float(jnp.max(jnp.abs(adv - images))) > epsilon / 2


def test_pgd_one_full_step_without_random_start_is_fgsm(linear):
    logits_fn, _, _, images, labels = linear
    epsilon = 0.07
    pgd = jax.jit(functools.partial(adversarial.pgd, logits_fn), static_argnames="num_steps")
    adv_pgd = pgd(images, labels, epsilon, epsilon, num_steps=1)
    adv_fgsm = adversarial.fgsm(logits_fn, images, labels, epsilon)
    np.testing.assert_array_equal(np.asarray(adv_pgd), np.asarray(adv_fgsm))


def test_random_start_changes_the_result(linear):
    logits_fn, _, _, images, labels = linear
    a = adversarial.pgd(logits_fn, images, labels, 0.1, 0.01, 2, key=jax.random.key(0))
    b = adversarial.pgd(logits_fn, images, labels, 0.1, 0.01, 2)
    assert not np.allclose(np.asarray(a), np.asarray(b))


def test_attacks_do_not_decrease_the_loss(linear):
    # The cross-entropy of a linear model is convex in x, so a step whose every
    # component agrees in sign with the gradient (or is zero, where clipped)
    # cannot lower it; PGD, started at the clean image, should do even better.
    logits_fn, _, _, images, labels = linear
    before = adversarial.cross_entropy(logits_fn, images, labels)
    after_fgsm = adversarial.cross_entropy(
        logits_fn, adversarial.fgsm(logits_fn, images, labels, 0.1), labels)
    after_pgd = adversarial.cross_entropy(
        logits_fn, adversarial.pgd(logits_fn, images, labels, 0.1, 0.025, 10), labels)
    assert np.all(np.asarray(after_fgsm) >= np.asarray(before) - 1e-6)
    assert np.all(np.asarray(after_pgd) >= np.asarray(before) - 1e-6)
    assert float(after_fgsm.sum()) > float(before.sum())
    assert float(after_pgd.sum()) >= float(after_fgsm.sum()) - 1e-4


def test_accuracy_under_attack(linear):
    logits_fn, _, _, images, labels = linear
    # The identity attack gives clean accuracy; batching pads without counting padding.
    predicted = np.argmax(np.asarray(logits_fn(images)), -1)
    clean = float(np.mean(predicted == np.asarray(labels)))
    identity = lambda x, y: x  # noqa: E731
    assert adversarial.accuracy_under_attack(logits_fn, identity, images, labels,
                                             batch_size=4) == pytest.approx(clean)
    attack = functools.partial(adversarial.fgsm, logits_fn, epsilon=0.5)
    attacked = adversarial.accuracy_under_attack(logits_fn, lambda x, y: attack(x, y),
                                                 images, labels, batch_size=4)
    assert attacked <= clean
