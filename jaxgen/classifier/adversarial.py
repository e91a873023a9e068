"""Adversarial examples for image classifiers: FGSM and L-inf PGD.

Both attacks take `logits_fn`, any function images [B, H, W, C] in [0, 1] ->
logits [B, K] (for the metrics extractor: `lambda x: extractor(x)[0]`), and
push every image uphill on its own cross-entropy within an L-inf ball of
radius `epsilon`, staying a valid image in [0, 1].

The functions are pure and contain no Python control flow on array values,
so they can be wrapped in `jax.jit` with `logits_fn` closed over
(`jax.jit(functools.partial(pgd, logits_fn), static_argnames="num_steps")`).
They are not jitted here because a `logits_fn` carrying its parameters
(such as the `Extractor` dataclass) is usually not hashable, so it cannot be
a static argument.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgen.metrics import runner

LogitsFn = Callable[[jax.Array], jax.Array]


def cross_entropy(logits_fn: LogitsFn, images, labels):
    """Per-example cross-entropy [B] of `logits_fn(images)` against integer labels [B]."""
    return optax.softmax_cross_entropy_with_integer_labels(logits_fn(images), labels)


def input_gradient(logits_fn: LogitsFn, images, labels):
    """d(cross-entropy)/d(images), same shape as images [B, H, W, C].

    The loss is summed, not averaged, over the batch: each example's loss
    depends only on its own image, so the sum gives every image exactly its
    own gradient, unscaled by the batch size.
    """
    def total_loss(x):
        return jnp.sum(cross_entropy(logits_fn, x, labels))
    return jax.grad(total_loss)(images)


def project(adv, images, epsilon):
    """Nearest point of the L-inf ball around `images` that is still a valid image.

    Clipping per pixel is the exact Euclidean projection onto the box
    [images - eps, images + eps] intersected with [0, 1], because both
    constraints are boxes and their intersection is a box. [B, H, W, C]
    """
    adv = jnp.clip(adv, images - epsilon, images + epsilon)
    return jnp.clip(adv, 0.0, 1.0)


def fgsm(logits_fn: LogitsFn, images, labels, epsilon):
    """Fast gradient sign method (Goodfellow et al., 2015).

    One step of size `epsilon` along sign(d loss / d x): the step that
    maximises the linearised loss under an L-inf budget. Pixels with zero
    gradient stay put (sign(0) = 0). images [B, H, W, C] in [0, 1], labels [B]
    -> adversarial images [B, H, W, C] in [0, 1].
    """
    grad = input_gradient(logits_fn, images, labels)
    return jnp.clip(images + epsilon * jnp.sign(grad), 0.0, 1.0)


def pgd(logits_fn: LogitsFn, images, labels, epsilon, step_size, num_steps: int, key=None):
    """L-inf projected gradient descent on the loss (Madry et al., 2018).

    `num_steps` signed-gradient steps of `step_size`, each followed by a
    projection back into the epsilon-ball around `images` and into [0, 1].
    With `key`, the start is a uniform random point of the ball: starting at
    the clean image, where the loss surface of a trained network is often
    flat or "masked", makes the attack weaker. With num_steps=1,
    step_size=epsilon and no key this is exactly `fgsm`.
    images [B, H, W, C] in [0, 1], labels [B] -> adversarial images, same shape.
    """
    images = jnp.asarray(images)
    adv = images
    if key is not None:
        noise = jax.random.uniform(key, images.shape, images.dtype, -epsilon, epsilon)
        adv = project(images + noise, images, epsilon)

    def step(_, adv):
        grad = input_gradient(logits_fn, adv, labels)
        return project(adv + step_size * jnp.sign(grad), images, epsilon)

    # fori_loop keeps the compiled graph one step long, whatever num_steps is.
    return jax.lax.fori_loop(0, num_steps, step, adv)


def accuracy_under_attack(logits_fn: LogitsFn, attack, images, labels, batch_size: int = 500):
    """Fraction of `images` still classified as `labels` after `attack`.

    `attack(images, labels) -> adversarial images` (e.g. a jitted `pgd` with
    its settings bound; the identity gives clean accuracy), called once per
    batch in order. The batches come from the one test-set runner
    (jaxgen.metrics.runner.per_example): all of `batch_size`, the last one
    padded and the padding masked out, so a jitted attack compiles once for
    any number of images.
    images [N, H, W, C] in [0, 1] (numpy or jax), labels [N] -> float.
    """
    def correct(batch, key):
        del key  # the attack holds its own randomness
        adv = attack(batch["image"], batch["label"])
        return jnp.argmax(logits_fn(adv), axis=-1) == batch["label"]  # [B]

    arrays = {"image": np.asarray(images, np.float32), "label": np.asarray(labels, np.int32)}
    values = runner.per_example(correct, arrays, jax.random.key(0), len(arrays["label"]),
                                batch_size)["value"]
    return float(np.mean(values))
