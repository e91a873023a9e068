"""`realnvp` and `glow` families: normalizing flows trained by maximum likelihood.

On 8-bit images of any shape H x W x C (height and width divisible by what
the levels squeeze, see `validate`) the loss is minus a lower bound on the
discrete log-likelihood of the dequantized image (losses.py,
dequantization.py), logged and evaluated as bits/dim over H * W * C; on 2-D
toy data it is the exact -log p(x). The family name picks the architecture
(models.py); everything else is shared.

Files: layers.py, models.py (the flows), dequantization.py (pixels <-> the
real line), losses.py, steps.py, sampling.py, pictures.py.
"""
from __future__ import annotations

from jaxgen import data
from jaxgen.engine import optim
from jaxgen.engine.config import base_config, rename_keys
from jaxgen.errors import ConfigError
from jaxgen.flows import models, pictures, sampling, steps
from jaxgen.flows.models import uses_points
from jaxgen.nn.fast_conv import CONV_CHOICES
from jaxgen.registry import Family, register

DEQUANTIZATIONS = ("uniform", "variational")
# Measured with `jaxgen bench FAMILY --steps 10`, niced, on the shared 2-core
# CPU at load average ~10: realnvp 1.6, glow 18.3 examples/s (batch 64).
CPU_NOTES = {
    "realnvp": "default (3 levels, 64 channels at 28x28): 0.025 steps/s on a shared 2-core "
               "CPU; use experiments/flows/realnvp_fmnist.py (run_timed.sh: a set wall time) "
               "or realnvp_moons.py (2-D)",
    "glow": "default: 0.29 steps/s on a shared 2-core CPU (hours for its 3000 steps); use "
            "experiments/flows/glow_fmnist.py (run_timed.sh: a set wall time) or glow_moons.py",
}


def default_config(family: str):
    """Defaults of `realnvp` (or `glow`). Slow on a 2-core CPU (CPU_NOTES): the
    experiments/flows/ configs with run_timed.sh, or the 2-D ones, suit one."""
    c = base_config()
    c.family = family
    c.batch_size = 64
    c.steps = 3000
    # Adam after a linear warm-up (early flow updates are large), global-norm clip.
    c.optim = optim.optim_config(learning_rate=1e-3, warmup_steps=200, grad_clip_norm=100.0)
    # Images: levels of the multi-scale architecture and steps per level (models.py).
    c.num_levels = 3 if family == "realnvp" else 2
    c.steps_per_level = 3 if family == "realnvp" else 4
    c.hidden = 64                # conditioner width (conv channels / Dense units)
    c.num_blocks = 1             # residual blocks (images) / extra hidden layers (2-D)
    c.conv = "flax"              # conditioner convs (fast_conv.conv3x3): "flax" (faster here), "fast"
    c.toy_steps = 8              # 2-D data: couplings (realnvp) / steps (glow), one level
    c.logit_alpha = 0.05         # logit(alpha + (1 - 2 alpha) y), RealNVP's pre-processing
    c.dequantization = "uniform"  # or "variational": noise from a learned q(u | x) (Flow++)
    c.deq_hidden = 32            # variational: conditioner width of q's flow
    c.deq_couplings = 2          # variational: checkerboard couplings in q's flow
    c.temperature = 1.0          # sampling: z ~ N(0, temperature^2 I) (Glow)
    return c


def validate(config) -> None:
    data.require_kind(config, config.family, "images", "points")
    if config.dequantization not in DEQUANTIZATIONS:
        raise ConfigError(f"dequantization must be one of {DEQUANTIZATIONS}, "
                          f"got {config.dequantization!r}")
    if uses_points(config) and config.dequantization != "uniform":
        raise ConfigError("dequantization applies to 8-bit images; 2-D data are continuous "
                          "(leave dequantization=uniform)")
    if config.deq_hidden < 1 or config.deq_couplings < 0:
        raise ConfigError("deq_hidden must be >= 1 and deq_couplings >= 0, got "
                          f"{config.deq_hidden} and {config.deq_couplings}")
    if config.conv not in CONV_CHOICES:
        raise ConfigError(f"conv must be one of {CONV_CHOICES}, got {config.conv!r}")
    for key in ("hidden", "steps_per_level", "toy_steps"):
        if config[key] < 1:
            raise ConfigError(f"config key {key!r} must be >= 1, got {config[key]}")
    if config.num_blocks < 0:
        raise ConfigError(f"config key 'num_blocks' must be >= 0, got {config.num_blocks}")
    if not 0.0 < config.logit_alpha < 0.5:
        raise ConfigError(f"logit_alpha must be in (0, 0.5), got {config.logit_alpha}")
    if config.temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {config.temperature}")
    optim.validate(config.optim, "optim")
    if not uses_points(config):
        shape = data.image_shape(config)
        try:
            models.check_architecture(config.family, shape, config.num_levels)
        except ValueError as err:
            raise ConfigError(f"bad num_levels for {config.family} on {config.dataset!r} "
                              f"images {shape[0]}x{shape[1]}x{shape[2]}: {err}") from err


def init(config, key, sample_batch):
    validate(config)
    return steps.init(config, key, sample_batch)


def likelihood_kind(config) -> str:
    """Images: a bound on the discrete NLL (one dequantization draw); 2-D: exact."""
    return "exact" if uses_points(config) else "dequantized bound"


def upgrade_config(flat: dict, version: int) -> dict:
    """Keys of configs saved by an older jaxgen (engine.config.complete)."""
    if version < 2:
        # The optimizer keys moved into `optim`. The old warm-up was
        # linear_schedule(0, lr, max(warmup_steps, 1)): a warm-up of 0 steps
        # still started at 0 for one step, which optim's warm-up of 1 step is.
        flat = rename_keys(flat, {"learning_rate": "optim.learning_rate",
                                  "grad_clip": "optim.grad_clip_norm"})
        if "warmup_steps" in flat:
            flat["optim.warmup_steps"] = max(int(flat.pop("warmup_steps")), 1)
    return flat


def _register():
    common = dict(init=init, train_step=steps.train_step, sample=sampling.sample,
                  eval_step=steps.eval_step, log_likelihood=steps.log_likelihood,
                  likelihood_kind=likelihood_kind, evaluations=pictures.EVALUATIONS,
                  pictures=pictures.pictures, network_evals=lambda config: 1,
                  upgrade_config=upgrade_config)
    register(Family(name="realnvp",
                    description="RealNVP flow: checkerboard/channel affine couplings, squeeze, "
                                "multi-scale; dequantized logits (images) or 2-D toy densities",
                    default_config=lambda: default_config("realnvp"),
                    cpu_note=CPU_NOTES["realnvp"], **common))
    register(Family(name="glow",
                    description="Glow flow: actnorm, LU 1x1 convolutions, affine couplings, "
                                "multi-scale; sampling with temperature",
                    default_config=lambda: default_config("glow"),
                    cpu_note=CPU_NOTES["glow"], **common))


_register()
