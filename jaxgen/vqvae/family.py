"""`vqvae` family: a VQ-VAE and an autoregressive prior over its code grid.

One family, two stages chosen by the `stage` key, trained one after the other
in two workdirs:

    stage = "autoencoder"  encoder, codebook (gradient or EMA updates) and
                           decoder. Without a learned prior it samples codes
                           independently from their training frequencies (the
                           "unigram" prior, tracked as an EMA of code usage).
    stage = "prior"        a PixelCNN (jaxgen.autoregressive, K-way softmax over
                           the code grid, 8x8 for Fashion-MNIST) trained on the
                           codes of the frozen stage-1 run in `vq_workdir`
                           (loaded by jaxgen.engine.components.load_component).
                           Sampling draws a code grid from it in raster order,
                           then decodes.

Why one family: both stages share the quantizer, the decoder, the likelihood
bound and every evaluation; the stage only decides which prior p(z) the run
has. The config of a prior run repeats the autoencoder's architecture keys
(AUTOENCODER_KEYS; experiments/vqvae/prior.py imports them from the stage-1
file) and `init` checks them against the saved stage-1 config, so every
function sees one config that describes the whole model. `init` copies the
stage-1 weights into the prior run's state (`extra["vq"]`), so the prior run's
checkpoints hold the entire generative model.

Why two workdirs and not two engine phases of one run: one stage-1 run serves
any number of priors (architectures, samplers) without retraining, and the
two stages' states differ in structure (stage 1 trains the autoencoder and
keeps codebook statistics, stage 2 trains only the prior), which one phased
run would have to carry side by side in every checkpoint.

Layout: models.py (networks, code grid), quantizer.py, losses.py (objectives
and the bound), steps.py (init, train and eval steps, state layout),
sampling.py, evaluation.py (own evaluations and pictures).
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.autoregressive import sampling as ar_sampling
from jaxgen.autoregressive.models import ARCHITECTURES
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.registry import Family, register
from jaxgen.vqvae import evaluation, sampling, steps
from jaxgen.vqvae.steps import AUTOENCODER_KEYS  # noqa: F401  (the keys a prior repeats)

# Measured: the median over 40 calls of the engine's jitted train step on the
# shared 2-core CPU (load average ~8), 0.91 s per default stage-1 step (batch 64).
CPU_NOTE = ("2-core CPU: ~0.9 s per stage-1 step, so the default 3000 steps take ~45 min; "
            "experiments/vqvae/vqvae_ema.py trains 900, prior.py 1500 prior steps")
STAGES = ("autoencoder", "prior")
CODEBOOK_UPDATES = ("ema", "gradient")


def default_config():
    """Stage 1 on Fashion-MNIST, K = 128 codes of dimension 16 on an 8x8 grid,
    3000 steps. On a shared 2-core CPU a stage-1 step took ~0.9 s (~45 min in
    all); experiments/vqvae/vqvae_ema.py trains 900 steps, prior.py the prior."""
    c = base_config()
    c.family = "vqvae"
    c.stage = "autoencoder"     # or "prior" (needs vq_workdir)
    c.vq_workdir = ""           # stage "prior": the trained stage-1 run
    c.batch_size = 64
    c.steps = 3000
    # Adam for the stage being trained, gradients clipped to global norm 1.
    c.optim = optim.optim_config(learning_rate=1e-3, grad_clip_norm=1.0)
    # --- stage 1: the autoencoder
    c.hidden_channels = (32, 64)  # widths at 1/2 and at 1/4 of the (padded) image side
    c.num_res_blocks = 2
    c.code_dim = 16             # D
    c.num_codes = 128           # K
    c.commitment_cost = 0.25    # beta
    c.codebook_update = "ema"   # or "gradient" (codebook loss)
    c.codebook_decay = 0.99     # EMA codebook: decay of the counts and sums
    c.codebook_epsilon = 1e-5   # EMA codebook: Laplace smoothing of the counts
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
    data.require_kind(config, "vqvae", "images")
    choices = {"stage": STAGES, "codebook_update": CODEBOOK_UPDATES,
               "prior_architecture": tuple(ARCHITECTURES)}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise ConfigError(f"{key} must be one of {allowed}, got {config[key]!r}")
    ar_sampling.check_sampler(ARCHITECTURES[config.prior_architecture], config.sampler,
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
    if config.num_res_blocks < 0 or config.commitment_cost < 0:
        raise ConfigError("num_res_blocks and commitment_cost must be >= 0")
    optim.validate(config.optim, "optim")
    for key in ("codebook_decay", "usage_decay", "prior_dropout"):
        if not 0.0 <= config[key] < 1.0:
            raise ConfigError(f"{key} must be in [0, 1), got {config[key]}")
    if config.codebook_epsilon <= 0:
        raise ConfigError(f"codebook_epsilon must be > 0, got {config.codebook_epsilon}")
    for key in ("prior_kernel_size", "prior_first_kernel_size"):
        if config[key] < 1 or config[key] % 2 == 0:
            raise ConfigError(f"{key} must be odd and >= 1, got {config[key]}")
    if config.stage == "prior" and not config.vq_workdir:
        raise ConfigError("stage 'prior' needs vq_workdir: the workdir of a trained "
                          "stage-1 run (jaxgen train vqvae --config.stage=autoencoder ...)")


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:
        flat = rename_keys(flat, {
            "channels": "hidden_channels",  # `channels` became a data key
            "learning_rate": "optim.learning_rate",  # the optimizer became `optim`
            "grad_clip_norm": "optim.grad_clip_norm",
            # `ema_decay` now means an EMA of weights only; this one is the codebook's.
            "ema_decay": "codebook_decay", "ema_epsilon": "codebook_epsilon"})
    return flat


def _register():
    register(Family(name="vqvae",
                    description="VQ-VAE (straight-through, commitment loss, EMA or gradient "
                                "codebook) with a PixelCNN prior over the code grid "
                                "(stage autoencoder / prior); likelihood bound",
                    default_config=default_config, init=init, train_step=steps.train_step,
                    sample=sampling.sample, log_likelihood=steps.log_likelihood,
                    likelihood_kind=lambda config: "bound", eval_step=steps.eval_step,
                    evaluations=evaluation.EVALUATIONS, pictures=evaluation.pictures,
                    network_evals=sampling.network_evals, upgrade_config=upgrade_config,
                    cpu_note=CPU_NOTE,
                    # the autoencoder computes in it (models.py); the prior stays float32
                    compute_dtypes=("float32", "bfloat16")))


_register()
