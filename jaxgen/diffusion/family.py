"""`ddpm` family: its default config, validation and registration (the face;
the work is in parts, steps, sampling, losses, schedules, samplers, latent).

One family covers every variant, selected by config keys (DESIGN.md: sampling
knobs are config keys, so `train`, `sample` and `eval` take the same overrides):

  data space    images of any H x W x C in [-1, 1] (U-Net); with
                `latent_vae_workdir` the latents of that trained VAE (MLP
                denoiser, samples decoded by the VAE); on the 2-D toy
                datasets the points themselves (MLP denoiser)
  prediction    eps | x0 | v            (the regression target; losses.py)
  schedule      linear | cosine | vp    (schedules.py)
  sampler       ddpm | ddim, with sample_steps, eta, posterior_variance
  conditional   class label in; label_dropout trains the unconditional model
                alongside, guidance = w mixes them at sampling:
                out = (1 + w) out(x, y) - w out(x, none)

Latent diffusion is this family with one more key rather than a second
family: the objective, networks-as-functions, samplers and guidance are the
same code; only the map from a batch to the diffused vector and back changes
(parts.to_diffusion_space / from_diffusion_space).
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.diffusion import evaluation, latent, parts, samplers, sampling, schedules, steps
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register

CPU_NOTE = ("on a 2-core CPU use experiments/diffusion/pixel_cond.py: 4.8 s a step "
            "against the default's 48 s (measured with a load average of ~11)")


def default_config():
    """The reference pixel-space model (a U-Net of 32 base channels, batch 128).

    Too big for a 2-core CPU: its train step took a median 48 s there (3
    steps, the two cores shared, load average ~11), 40 hours for its 3000
    steps. Train experiments/diffusion/pixel_cond.py there instead (16 base
    channels, batch 64): 4.8 s a step under the same load.
    """
    c = base_config()
    c.family = "ddpm"
    c.batch_size = 128
    c.steps = 3000
    # Adam after a linear warm-up, the global gradient norm clipped at 1.
    c.optim = optim.optim_config(learning_rate=5e-4, warmup_steps=200, grad_clip_norm=1.0)
    c.ema_decay = 0.999         # EMA of the weights, used to sample (sample_with_ema); 0: none
    c.ema_warmup = True         # decay min(ema_decay, (1 + t) / (10 + t)) at step t
    c.sample_with_ema = True
    # Forward process.
    c.schedule = "linear"       # or "cosine"
    c.num_timesteps = 1000
    c.beta_start = 1e-4         # linear schedule, given for T = 1000
    c.beta_end = 0.02
    c.prediction = "eps"        # or "x0", "v"
    # U-Net (images).
    c.base_channels = 32
    c.channel_mults = (1, 2, 2)  # 28 -> 14 -> 7, 32 -> 16 -> 8
    c.num_res_blocks = 1
    c.attention = True           # self-attention at the lowest resolution
    c.conv = "flax"              # or "fast": same function, see models.py
    # MLP denoiser (VAE latents, 2-D points).
    c.mlp_width = 256
    c.mlp_blocks = 3
    # Conditioning and classifier-free guidance.
    c.conditional = False
    c.label_dropout = 0.1        # probability that a training label becomes "none"
    c.guidance = 0.0             # w; 0 = the plain conditional model
    # Sampling.
    c.sampler = "ddim"           # or "ddpm"
    c.sample_steps = 50          # levels visited (evenly spaced; T = every level)
    c.eta = 0.0                  # ddim noise; 0 = deterministic, 1 = ddpm/beta_tilde
    c.posterior_variance = "beta_tilde"  # ddpm step variance (and the bound's), or "beta"
    c.clip_x0 = True             # clip predicted images to [-1, 1] while sampling
    # Likelihood (the shared `nll` evaluation): levels evaluated per image for
    # the variational bound (num_timesteps: the exact sum).
    c.vb_timesteps = 100
    # Latent diffusion: workdir of a trained unconditional `vae` run ("" = pixel space).
    c.latent_vae_workdir = ""
    return c


def _choice(config, key, choices):
    if config[key] not in choices:
        raise ConfigError(f"{key} must be one of {tuple(choices)}, got {config[key]!r}")


def check_unet_fits(config) -> None:
    """Each U-Net level but the last halves the image sides exactly."""
    height, width, _ = data.image_shape(config)
    halvings = len(config.channel_mults) - 1
    factor = 2 ** halvings
    if height % factor or width % factor:
        fits = max(n for n in range(8) if height % 2 ** n == 0 and width % 2 ** n == 0)
        raise ConfigError(
            f"channel_mults={tuple(config.channel_mults)} halves the {height}x{width} images "
            f"{halvings} times, so their sides must be divisible by {factor}; "
            f"{config.dataset!r} allows at most {fits + 1} levels")


def validate(config) -> None:
    data.require_kind(config, "ddpm", "images", "points")
    fields = data.spec(config).fields
    if "image" not in fields and "point" not in fields:
        raise ConfigError(f"ddpm models single images or points; {config.dataset!r} "
                          f"(source {config.source!r}) gives {sorted(fields)}")
    _choice(config, "schedule", schedules.SCHEDULES)
    _choice(config, "prediction", schedules.PREDICTIONS)
    _choice(config, "sampler", samplers.SAMPLERS)
    _choice(config, "posterior_variance", samplers.POSTERIOR_VARIANCES)
    _choice(config, "conv", CONV_CHOICES)
    optim.validate(config.optim, "optim")
    T = config.num_timesteps
    checks = [
        (T >= 2, f"num_timesteps must be >= 2, got {T}"),
        (1 <= config.sample_steps <= T,
         f"sample_steps must be in 1..num_timesteps={T}, got {config.sample_steps}"),
        (2 <= config.vb_timesteps <= T,
         f"vb_timesteps must be in 2..num_timesteps={T}, got {config.vb_timesteps}"),
        (config.eta >= 0, f"eta must be >= 0, got {config.eta}"),
        (0 <= config.label_dropout < 1, f"label_dropout must be in [0, 1), got {config.label_dropout}"),
        (config.guidance >= 0, f"guidance must be >= 0, got {config.guidance}"),
        (0 <= config.ema_decay < 1, f"ema_decay must be in [0, 1), got {config.ema_decay}"),
        (0 < config.beta_start < config.beta_end < 1,
         f"need 0 < beta_start < beta_end < 1, got {config.beta_start}, {config.beta_end}"),
        (config.base_channels >= 1 and config.base_channels % min(8, config.base_channels) == 0,
         "base_channels must be a multiple of 8 (GroupNorm groups) or below 8, "
         f"got {config.base_channels}"),
        (len(config.channel_mults) >= 1 and all(m >= 1 for m in config.channel_mults),
         f"channel_mults must be positive ints, got {config.channel_mults}"),
        (config.num_res_blocks >= 1, f"num_res_blocks must be >= 1, got {config.num_res_blocks}"),
        (config.mlp_width >= 1 and config.mlp_blocks >= 1, "mlp_width and mlp_blocks must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    if config.guidance > 0 and not (config.conditional and config.label_dropout > 0):
        raise ConfigError("guidance > 0 needs a conditional model trained with "
                          "label_dropout > 0 (it mixes the conditional and unconditional outputs)")
    if config.conditional:
        data.require_labels(config, "ddpm with conditional=True")
        if config.source == "mixture":
            raise ConfigError("conditional=True needs every training label; a mixture "
                              "source hides the target's labels")
    if config.latent_vae_workdir:
        data.require_kind(config, "latent diffusion (latent_vae_workdir)", "images")
        latent.check_images_match(config)
    elif parts.data_kind(config) == "image":
        check_unet_fits(config)


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:
        # `channels` became a data key (image_folder's channel count); the
        # optimizer moved into the `optim` block.
        flat = rename_keys(flat, {"channels": "base_channels",
                                  "learning_rate": "optim.learning_rate",
                                  "warmup_steps": "optim.warmup_steps",
                                  "grad_clip": "optim.grad_clip_norm"})
        if "optim.warmup_steps" in flat:
            # The old optimizer was adam(linear_schedule(0, lr, max(warmup_steps, 1))):
            # even no warm-up started at 0 for one step.
            flat["optim.warmup_steps"] = max(int(flat["optim.warmup_steps"]), 1)
        clip = flat.get("optim.grad_clip_norm", 1.0)
        if not clip > 0:
            # clip_by_global_norm(c <= 0) zeroed (or reversed) every update: such a
            # run never trained, and no optimizer of today's kind reproduces it.
            raise ConfigError(f"the saved ddpm config has grad_clip={clip!r}, which made "
                              "every update zero: this run cannot be continued; retrain it")
    return flat


register(Family(
    name="ddpm",
    description="denoising diffusion (eps/x0/v prediction; DDPM and DDIM samplers; "
                "classifier-free guidance; latent diffusion on a trained VAE; "
                "variational bound in bits/dim through the shared nll)",
    default_config=default_config, init=init, train_step=steps.train_step,
    sample=sampling.sample, log_likelihood=steps.log_likelihood,
    likelihood_kind=steps.likelihood_kind, eval_step=steps.eval_step,
    evaluations=evaluation.EVALUATIONS, pictures=evaluation.pictures,
    compute_dtypes=("float32", "bfloat16"),  # the U-Net and the MLP denoiser (parts.make_model)
    network_evals=sampling.network_evals, upgrade_config=upgrade_config,
    conditional=lambda config: config.conditional, cpu_note=CPU_NOTE))
