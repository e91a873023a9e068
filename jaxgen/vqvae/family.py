"""`vqvae` family: a VQ-VAE and an autoregressive prior over its code grid.

One family, two stages chosen by the `stage` key, trained one after the other
in two workdirs:

    stage = "autoencoder"  encoder, codebook (gradient or EMA updates) and
                           decoder. Without a learned prior it samples codes
                           independently from their training frequencies (the
                           "unigram" prior, tracked as an EMA of code usage).
    stage = "prior"        a PixelCNN (jaxgen.autoregressive, K-way softmax over
                           the 8x8 code grid) trained on the codes of the frozen
                           stage-1 run in `vq_workdir`. Sampling draws a code
                           grid from it in raster order, then decodes.

Why one family: both stages share the quantizer, the decoder, the likelihood
bound and every evaluation; the stage only decides which prior p(z) the run
has. The config of a prior run repeats the autoencoder's architecture keys
(AUTOENCODER_KEYS; experiments/vqvae/prior.py imports them from the stage-1
file) and `init` checks them against the saved stage-1 config, so every
function sees one config that describes the whole model. `init` copies the
stage-1 weights into the prior run's state (`extra["vq"]`), so the prior run's
checkpoints hold the entire generative model.

State layout:
    stage 1: params {"autoencoder", ["codebook"] (gradient mode)};
             extra {"code_usage", ["codebook", "cluster_size", "embed_sum"] (EMA)}
    stage 2: params = the prior's; extra {"vq": {"autoencoder", "codebook", "code_usage"}}
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxgen import data, metrics
from jaxgen.autoregressive import sampling
from jaxgen.autoregressive.models import ARCHITECTURES
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.engine.state import TrainState, apply_gradients
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register
from jaxgen.vae import losses as vae_losses
from jaxgen.vqvae import losses, quantizer
from jaxgen.vqvae.models import CODE_GRID, VQAutoEncoder

STAGES = ("autoencoder", "prior")
CODEBOOK_UPDATES = ("ema", "gradient")
# The keys that define the stage-1 model; a prior run must repeat them.
AUTOENCODER_KEYS = ("dataset", "hidden_channels", "num_res_blocks", "code_dim", "num_codes")
NUM_DIMS = 28 * 28


def default_config():
    c = base_config()
    c.family = "vqvae"
    c.stage = "autoencoder"     # or "prior" (needs vq_workdir)
    c.vq_workdir = ""           # stage "prior": the trained stage-1 run
    c.batch_size = 64
    c.steps = 3000
    c.learning_rate = 1e-3      # Adam, for the stage being trained
    c.grad_clip_norm = 1.0      # 0 disables clipping
    # --- stage 1: the autoencoder
    c.hidden_channels = (32, 64)  # widths at 16x16 and at the 8x8 code grid
    c.num_res_blocks = 2
    c.code_dim = 16             # D
    c.num_codes = 128           # K
    c.commitment_cost = 0.25    # beta
    c.codebook_update = "ema"   # or "gradient" (codebook loss)
    c.ema_decay = 0.99
    c.ema_epsilon = 1e-5
    c.usage_decay = 0.99        # EMA of code frequencies: the unigram prior of stage 1
    # --- stage 2: the PixelCNN prior over the code grid
    c.prior_architecture = "gated"  # or "plain", "pixelcnn_pp" (jaxgen.autoregressive.models)
    c.prior_channels = 64
    c.prior_layers = 6
    c.prior_kernel_size = 3
    c.prior_first_kernel_size = 5
    c.prior_head_hidden = 128
    c.prior_embedding = 32      # learned embedding of the unordered codes
    c.prior_dropout = 0.0
    c.sampler = "cached"        # or "naive" (jaxgen.autoregressive.sampling)
    c.eval_batches = 5
    c.num_grid = 36
    return c


def validate(config) -> None:
    data.require_image_dataset(config)
    choices = {"stage": STAGES, "codebook_update": CODEBOOK_UPDATES,
               "prior_architecture": tuple(ARCHITECTURES)}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise ConfigError(f"{key} must be one of {allowed}, got {config[key]!r}")
    sampling.check_sampler(ARCHITECTURES[config.prior_architecture], config.sampler,
                           f"prior_architecture {config.prior_architecture!r}")
    if len(config.hidden_channels) != 2 or min(config.hidden_channels) < 1:
        raise ConfigError("hidden_channels must be two positive widths, got "
                          f"{config.hidden_channels}")
    for key in ("code_dim", "num_codes", "prior_channels", "prior_layers",
                "prior_head_hidden", "prior_embedding"):
        if config[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {config[key]}")
    if config.num_codes < 2:
        raise ConfigError(f"num_codes must be >= 2, got {config.num_codes}")
    if config.num_res_blocks < 0 or config.commitment_cost < 0 or config.grad_clip_norm < 0:
        raise ConfigError("num_res_blocks, commitment_cost and grad_clip_norm must be >= 0")
    for key in ("ema_decay", "usage_decay", "prior_dropout"):
        if not 0.0 <= config[key] < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {config[key]}")
    if config.ema_epsilon <= 0:
        raise ConfigError(f"ema_epsilon must be > 0, got {config.ema_epsilon}")
    for key in ("prior_kernel_size", "prior_first_kernel_size"):
        if config[key] < 1 or config[key] % 2 == 0:
            raise ConfigError(f"{key} must be odd and >= 1, got {config[key]}")
    if config.stage == "prior" and not config.vq_workdir:
        raise ConfigError("stage 'prior' needs vq_workdir: the workdir of a trained "
                          "stage-1 run (jaxgen train vqvae --config.stage=autoencoder ...)")


def is_prior_stage(config) -> bool:
    return config.stage == "prior"


def make_autoencoder(config) -> VQAutoEncoder:
    return VQAutoEncoder(channels=tuple(config.hidden_channels), num_res_blocks=config.num_res_blocks,
                         code_dim=config.code_dim, out_channels=losses.OUTPUT_CHANNELS)


def make_prior(config):
    """The autoregressive network over K code categories (no class input)."""
    cls = ARCHITECTURES[config.prior_architecture]
    return cls(num_categories=config.num_codes, head="softmax", channels=config.prior_channels,
               num_layers=config.prior_layers, kernel_size=config.prior_kernel_size,
               first_kernel_size=config.prior_first_kernel_size,
               head_hidden=config.prior_head_hidden, input_embedding=config.prior_embedding,
               dropout_rate=config.prior_dropout)


def make_optimizer(config):
    adam = optax.adam(config.learning_rate)
    if config.grad_clip_norm:
        return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), adam)
    return adam


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
    """uint8 images [B, 28, 28, 1] -> code grid int [B, 8, 8]."""
    z_e = make_autoencoder(config).apply(vq["autoencoder"], vae_losses.to_unit_padded(pixels),
                                         method="encode")
    return quantizer.nearest_code(z_e, vq["codebook"])


def decode_codes(config, vq, codes):
    """Code grid int [B, 8, 8] -> decoder output [B, 32, 32, 2]."""
    z_q = quantizer.lookup(vq["codebook"], codes)
    return make_autoencoder(config).apply(vq["autoencoder"], z_q, method="decode")


def init_autoencoder(config, key, sample_batch) -> TrainState:
    """Random networks; the codebook starts as K encoder outputs of the first batch."""
    k_params, k_codes = jax.random.split(key)
    model = make_autoencoder(config)
    ae_params = model.init(k_params, vae_losses.to_unit_padded(sample_batch["image"]))
    z_e = model.apply(ae_params, vae_losses.to_unit_padded(sample_batch["image"]),
                      method="encode")
    codebook = quantizer.init_codebook_from_data(k_codes, z_e, config.num_codes)
    params = {"autoencoder": ae_params}
    extra = {"code_usage": jnp.full((config.num_codes,), 1.0 / config.num_codes)}
    if config.codebook_update == "ema":
        extra.update(codebook=codebook, **quantizer.ema_init(codebook))
    else:
        params["codebook"] = codebook
    return TrainState.create(params, make_optimizer(config).init(params), extra=extra)


def load_stage1(config) -> dict:
    """The frozen VQ parts of the stage-1 run in `vq_workdir`, after checking
    that it is one and that its architecture is the one this config names."""
    from jaxgen.engine.run import load
    # `init` runs under jit (and eval_shape); the checkpoint must be read
    # eagerly and enter the traced program as constants.
    with jax.ensure_compile_time_eval():
        run = load(config.vq_workdir)
    if run.config.family != "vqvae" or run.config.get("stage") != "autoencoder":
        raise ConfigError(f"vq_workdir {config.vq_workdir} holds a {run.config.family} run, "
                          "not a vqvae run with stage 'autoencoder'")
    differing = [k for k in AUTOENCODER_KEYS
                 if tuple(_as_tuple(run.config[k])) != tuple(_as_tuple(config[k]))]
    if differing:
        details = ", ".join(f"{k}: stage 1 has {run.config[k]!r}, given {config[k]!r}"
                            for k in differing)
        raise ConfigError(f"the prior's config must repeat the autoencoder's ({details})")
    return vq_parts(run.config, run.state)


def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def init_prior(config, key, sample_batch) -> TrainState:
    vq = load_stage1(config)
    codes = encode_codes(config, vq, sample_batch["image"])
    params = make_prior(config).init(key, codes)
    return TrainState.create(params, make_optimizer(config).init(params), extra={"vq": vq})


def init(config, key, sample_batch) -> TrainState:
    validate(config)
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
                                       codebook, batch["image"], config.commitment_cost,
                                       learn_codebook)

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = apply_gradients(state, grads, make_optimizer(config))
    z_e, indices = aux.pop("z_e"), aux.pop("indices")
    frequencies = usage_frequencies(indices, config.num_codes)
    extra = dict(extra, code_usage=config.usage_decay * extra["code_usage"]
                 + (1 - config.usage_decay) * frequencies)
    if not learn_codebook:
        stats, codebook = quantizer.ema_update(
            {"cluster_size": extra["cluster_size"], "embed_sum": extra["embed_sum"]},
            z_e, indices, config.ema_decay, config.ema_epsilon)
        extra.update(codebook=codebook, **stats)
    batch_counts = quantizer.code_counts(indices, config.num_codes)
    return state.replace(extra=extra), {
        "loss": loss, **aux, "recon_bpd": metrics.bits_per_dim(aux["recon"], NUM_DIMS),
        "perplexity": quantizer.perplexity(batch_counts),
        "codes_used": jnp.sum(batch_counts > 0).astype(jnp.float32),
        "grad_norm": optax.global_norm(grads)}


def prior_step(config, state, batch, key):
    codes = encode_codes(config, state.extra["vq"], batch["image"])
    dropout_key = key if config.prior_dropout > 0 else None

    def loss_fn(params):
        return jnp.mean(losses.prior_nll(make_prior(config), params, codes, dropout_key))

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    state = apply_gradients(state, grads, make_optimizer(config))
    return state, {"loss": loss, "prior_bits_per_code": loss / (jnp.log(2.0) * codes[0].size),
                   "grad_norm": optax.global_norm(grads)}


def train_step(config, state, batch, key):
    if is_prior_stage(config):
        return prior_step(config, state, batch, key)
    return autoencoder_step(config, state, batch)


# ------------------------------------------------------------------ likelihood, sampling


def nll_terms(config, state, batch) -> dict:
    """Per-example nats [B]: recon = -log p(x | z_q), prior = -log p(z_q) under
    the run's prior (the PixelCNN in stage 2, the unigram in stage 1),
    bound = recon + prior >= -log p(x) (losses.py); and the codes [B, 8, 8]."""
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
    return {"loss": loss, **means, "bound_bpd": metrics.bits_per_dim(means["bound"], NUM_DIMS),
            "perplexity": quantizer.perplexity(counts)}


def log_likelihood(config, state, batch, key):
    """Lower bound log p(z_q) + log p(x | z_q) <= log p(x), nats per image. [B]"""
    del key
    return -nll_terms(config, state, batch)["bound"]


def sample_codes(config, state, key, num: int):
    """Code grids int [num, 8, 8] from the run's prior."""
    if is_prior_stage(config):
        return sampling.sample_grid(make_prior(config), state.params, key, num, *CODE_GRID,
                                    None, config.sampler)
    return losses.sample_unigram(key, vq_parts(config, state)["code_usage"], num, CODE_GRID)


def sample(config, state, key, num: int, cond=None):
    """Codes from the prior, decoded to the logistic means. [num, 28, 28, 1] in [0, 1]."""
    del cond  # unconditional
    codes = sample_codes(config, state, key, num)
    return vae_losses.decoder_mean(decode_codes(config, vq_parts(config, state), codes))


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:  # `channels` became a data key (image_folder's channel count)
        flat = rename_keys(flat, {'channels': 'hidden_channels'})
    return flat


def _register():
    from jaxgen.vqvae import evaluation
    register(Family(name="vqvae",
                    description="VQ-VAE (straight-through, commitment loss, EMA or gradient "
                                "codebook) with a PixelCNN prior over the code grid "
                                "(stage autoencoder / prior); bits/dim bound",
                    default_config=default_config, init=init, train_step=train_step,
                    sample=sample, log_likelihood=log_likelihood, eval_step=eval_step,
                    evaluations=evaluation.EVALUATIONS, pictures=evaluation.pictures,
                    upgrade_config=upgrade_config))


_register()
