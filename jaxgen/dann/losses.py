"""DANN's objective (Ganin et al. 2016, Eq. 9, as one minimisation).

    E = CE(label head(f(x_s)), y_s) + domain_weight * BCE(domain head(R_lam(f(x))), d)

over a batch whose labelled rows (label >= 0) are the source and whose
`domain` field says source (0) or target (1). R_lam is the gradient-reversal
layer: the domain head descends the domain loss, the features ascend it with
weight lam. lam = 0 is the "source only" baseline with a domain head still
trained on frozen-to-it features: its accuracy measures how far apart the
domains' features are without acting on them.
"""
from __future__ import annotations

import jax.numpy as jnp
import optax

from jaxgen.dann.models import to_input
from jaxgen.nn.gradient_reversal import reverse_gradient


def masked_mean(values, mask):
    """Mean of values [B] over mask [B] (0 when the mask is empty)."""
    mask = mask.astype(values.dtype)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def label_loss(logits, labels):
    """Softmax cross-entropy over the labelled rows (label >= 0), and their accuracy."""
    labelled = labels >= 0
    safe = jnp.where(labelled, labels, 0)  # hidden labels (-1) must index something
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, safe)  # [B]
    correct = (jnp.argmax(logits, -1) == safe).astype(jnp.float32)
    return masked_mean(ce, labelled), masked_mean(correct, labelled)


def domain_loss(domain_logits, domains):
    """Binary cross-entropy of "target" logits [B, 1] against domains [B], and accuracy."""
    logit = domain_logits[:, 0]
    target = domains.astype(jnp.float32)
    bce = optax.sigmoid_binary_cross_entropy(logit, target)
    accuracy = jnp.mean(((logit > 0) == (domains == 1)).astype(jnp.float32))
    return jnp.mean(bce), accuracy


def dann_loss(networks, params, batch, lam, domain_weight):
    """(E, metrics) of one batch; `lam` scales the reversed gradient. A batch
    without a `domain` field (training on one labelled dataset: the oracle)
    has the label term only."""
    feats = networks["features"].apply(params["features"], to_input(batch["image"]))  # [B, F]
    logits = networks["label"].apply(params["label"], feats)  # [B, K]
    loss, accuracy = label_loss(logits, batch["label"])
    metrics = {"label_loss": loss, "label_accuracy": accuracy}
    if "domain" in batch:
        reversed_feats = reverse_gradient(feats, lam)
        d_logits = networks["domain"].apply(params["domain"], reversed_feats)  # [B, 1]
        d_loss, d_accuracy = domain_loss(d_logits, batch["domain"])
        loss = loss + domain_weight * d_loss
        metrics.update(domain_loss=d_loss, domain_accuracy=d_accuracy)
    return loss, metrics
