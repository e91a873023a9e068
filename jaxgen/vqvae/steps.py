"""init, train_step, eval_step and log_likelihood of the VQ-VAE's two stages.

State layout:
    stage 1: params {"autoencoder", ["codebook"] (gradient mode)};
             extra {"code_usage", ["codebook", "cluster_size", "embed_sum"] (EMA)}
    stage 2: params = the prior's; extra {"vq": {"autoencoder", "codebook", "code_usage"}}
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from jaxgen import data, metrics
from jaxgen.engine.components import load_component
from jaxgen.engine.optim import ema_update, make_optimizer
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.vqvae import losses, quantizer
from jaxgen.vqvae.models import make_autoencoder, make_prior, network_image_shape

# The keys that define the stage-1 model; a prior run must repeat them.
AUTOENCODER_KEYS = ("dataset", "hidden_channels", "num_res_blocks", "code_dim", "num_codes")


def is_prior_stage(config) -> bool:
    return config.stage == "prior"


def optimizer(config):
    return make_optimizer(config.optim, total_steps=config.steps)


def num_dims(config) -> int:
    """Pixel values per image, H * W * C: what bits/dim divide by."""
    return math.prod(data.image_shape(config))


# ------------------------------------------------------------------ the VQ part


def vq_parts(config, state) -> dict:
    """{"autoencoder", "codebook" [K, D], "code_usage" [K]} of either stage."""
    if is_prior_stage(config):
        return state.extra["vq"]
    codebook = (state.extra["codebook"] if config.codebook_update == "ema"
                else state.params["codebook"])
    return {"autoencoder": state.params["autoencoder"], "codebook": codebook,
            "code_usage": state.extra["code_usage"]}


def encode_codes(config, vq, pixels):
    """uint8 images [B, H, W, C] -> code grid int [B, h, w]."""
    x = losses.unit_padded(pixels, network_image_shape(config))
    z_e = make_autoencoder(config).apply(vq["autoencoder"], x, method="encode")
    return quantizer.nearest_code(z_e, vq["codebook"])


def decode_codes(config, vq, codes):
    """Code grid int [B, h, w] -> decoder output [B, H', W', 2C] (padded)."""
    z_q = quantizer.lookup(vq["codebook"], codes)
    return make_autoencoder(config).apply(vq["autoencoder"], z_q, method="decode")


# ------------------------------------------------------------------ init


def init_autoencoder(config, key, sample_batch) -> TrainState:
    """Random networks; the codebook starts as K encoder outputs of the first batch."""
    k_params, k_codes = jax.random.split(key)
    model = make_autoencoder(config)
    x = losses.unit_padded(sample_batch["image"], network_image_shape(config))
    ae_params = model.init(k_params, x)
    z_e = model.apply(ae_params, x, method="encode")
    codebook = quantizer.init_codebook_from_data(k_codes, z_e, config.num_codes)
    params = {"autoencoder": ae_params}
    extra = {"code_usage": jnp.full((config.num_codes,), 1.0 / config.num_codes)}
    if config.codebook_update == "ema":
        extra.update(codebook=codebook, **quantizer.ema_init(codebook))
    else:
        params["codebook"] = codebook
    return TrainState.create(params, optimizer(config).init(params), extra=extra)


def load_stage1(config) -> dict:
    """The frozen VQ parts of the stage-1 run in `vq_workdir`, after checking
    that it is one and that its architecture is the one this config names."""
    run = load_component(config.vq_workdir, ("vqvae",), "vq_workdir")
    if run.config.stage != "autoencoder":
        raise ConfigError(f"vq_workdir {config.vq_workdir} holds a vqvae run of stage "
                          f"{run.config.stage!r}, not a vqvae run with stage 'autoencoder'")
    differing = [k for k in AUTOENCODER_KEYS
                 if _as_tuple(run.config[k]) != _as_tuple(config[k])]
    if differing:
        details = ", ".join(f"{k}: stage 1 has {run.config[k]!r}, given {config[k]!r}"
                            for k in differing)
        raise ConfigError(f"the prior's config must repeat the autoencoder's ({details})")
    return vq_parts(run.config, run.state)


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def init_prior(config, key, sample_batch) -> TrainState:
    vq = load_stage1(config)
    codes = encode_codes(config, vq, sample_batch["image"])
    params = make_prior(config).init(key, codes)
    return TrainState.create(params, optimizer(config).init(params), extra={"vq": vq})


def init(config, key, sample_batch) -> TrainState:
    """A fresh state (the config is validated by the family's face, family.init)."""
    if is_prior_stage(config):
        return init_prior(config, key, sample_batch)
    return init_autoencoder(config, key, sample_batch)


# ------------------------------------------------------------------ training


def usage_frequencies(indices, num_codes: int):
    counts = quantizer.code_counts(indices, num_codes)
    return counts / jnp.sum(counts)


def autoencoder_step(config, state, batch):
    learn_codebook = config.codebook_update == "gradient"
    extra = state.extra

    def loss_fn(params):
        codebook = params["codebook"] if learn_codebook else extra["codebook"]
        return losses.autoencoder_loss(make_autoencoder(config), params["autoencoder"],
                                       codebook, batch["image"], network_image_shape(config),
                                       config.commitment_cost, learn_codebook)

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = apply_gradients(state, grads, optimizer(config))
    z_e, indices = aux.pop("z_e"), aux.pop("indices")
    frequencies = usage_frequencies(indices, config.num_codes)
    extra = dict(extra, code_usage=ema_update(extra["code_usage"], frequencies,
                                              config.usage_decay))
    if not learn_codebook:
        stats, codebook = quantizer.ema_update(
            {"cluster_size": extra["cluster_size"], "embed_sum": extra["embed_sum"]},
            z_e, indices, config.codebook_decay, config.codebook_epsilon)
        extra.update(codebook=codebook, **stats)
    batch_counts = quantizer.code_counts(indices, config.num_codes)
    return state.replace(extra=extra), {
        "loss": loss, **aux, "recon_bpd": metrics.bits_per_dim(aux["recon"], num_dims(config)),
        "perplexity": quantizer.perplexity(batch_counts),
        "codes_used": jnp.sum(batch_counts > 0).astype(jnp.float32),
        "grad_norm": optax.global_norm(grads)}


def prior_step(config, state, batch, key):
    codes = encode_codes(config, state.extra["vq"], batch["image"])
    dropout_key = key if config.prior_dropout > 0 else None

    def loss_fn(params):
        return jnp.mean(losses.prior_nll(make_prior(config), params, codes, dropout_key))

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    state = apply_gradients(state, grads, optimizer(config))
    return state, {"loss": loss, "prior_bits_per_code": loss / (jnp.log(2.0) * codes[0].size),
                   "grad_norm": optax.global_norm(grads)}


def train_step(config, state, batch, key):
    if is_prior_stage(config):
        return prior_step(config, state, batch, key)
    return autoencoder_step(config, state, batch)


# ------------------------------------------------------------------ likelihood


def nll_terms(config, state, batch) -> dict:
    """Per-example nats [B]: recon = -log p(x | z_q), prior = -log p(z_q) under
    the run's prior (the PixelCNN in stage 2, the unigram in stage 1),
    bound = recon + prior >= -log p(x) (losses.py); and the codes [B, h, w]."""
    vq = vq_parts(config, state)
    codes = encode_codes(config, vq, batch["image"])
    recon = losses.reconstruction_nll(decode_codes(config, vq, codes), batch["image"])
    if is_prior_stage(config):
        prior = losses.prior_nll(make_prior(config), state.params, codes)
    else:
        prior = losses.unigram_nll(vq["code_usage"], codes)
    return {"recon": recon, "prior": prior, "bound": recon + prior, "codes": codes}


def eval_step(config, state, batch, key):
    del key  # deterministic encoder, no dropout at test time
    terms = nll_terms(config, state, batch)
    counts = quantizer.code_counts(terms.pop("codes"), config.num_codes)
    means = {name: jnp.mean(v) for name, v in terms.items()}
    loss = means["prior"] if is_prior_stage(config) else means["recon"]
    return {"loss": loss, **means,
            "bound_bpd": metrics.bits_per_dim(means["bound"], num_dims(config)),
            "perplexity": quantizer.perplexity(counts)}


def log_likelihood(config, state, batch, key):
    """Lower bound log p(z_q) + log p(x | z_q) <= log p(x), nats per image. [B]"""
    del key
    return -nll_terms(config, state, batch)["bound"]
