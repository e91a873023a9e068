"""`gan`, `dcgan`, `wgan`, `wgan_gp` and `cgan`: one GAN implementation, five defaults.

The five families differ only in their default configs (architecture, loss,
critic constraint, optimizer); every option is a config key of all of them,
so e.g. `jaxgen train gan --config.dataset=ring8 --config.pack=4` is PacGAN on
the 2-D ring. The loss is `loss` (losses.LOSSES); the default is
"non_saturating" for the probabilistic GANs (losses.py says why).

One TrainState holds both networks: params {"g", "d"}, opt_state {"g", "d"},
ema_params (the generator's moving average, when `ema_decay` > 0) and extra
{"g_batch_stats"} (DCGAN generator's batch-norm running averages).

One train_step = `n_critic` discriminator updates, then one generator update,
each with its own key (fold/split of the step key). The real batch of
`batch_size` examples is cut into `n_critic` slices, one per critic update
(as in the WGAN papers, each critic iteration sees fresh data); the generator
update draws batch_size / n_critic latents. With `unroll_steps` = k > 0
(unrolled GAN, Metz et al. 2017) the generator's loss is taken against the
discriminator after k further critic updates computed inside the step and
differentiated through, so G sees how D would react to it; D itself keeps
only its ordinary update.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from jaxgen import data
from jaxgen.engine.config import base_config
from jaxgen.engine.state import TrainState
from jaxgen.errors import ConfigError
from jaxgen.gan import losses
from jaxgen.gan.models import ACTIVATIONS, make_discriminator, make_generator, pack_samples
from jaxgen.registry import Family, register

ARCHS = ("mlp", "dcgan")
OPTIMIZERS = ("adam", "rmsprop")
SAMPLE_FROM = ("raw", "ema")
IMAGE_SHAPE = (28, 28, 1)
POINT_SHAPE = (2,)


# --------------------------------------------------------------------------- config


def default_config(family: str = "gan"):
    c = base_config()
    c.family = family
    c.batch_size = 64
    c.steps = 5000
    c.arch = "mlp"                 # "mlp" (course MLP GAN; 2-D lab) or "dcgan"
    c.latent_dim = 100
    c.g_hidden = (256, 512, 1024)  # mlp
    c.d_hidden = (1024, 512, 256)
    c.activation = "leaky_relu"
    c.d_dropout = 0.3
    c.g_channels = (128, 64, 32)   # dcgan: 7x7, 14x14, 28x28
    c.d_channels = (32, 64)        # dcgan: 14x14, 7x7
    c.bn_momentum = 0.9
    c.loss = "non_saturating"      # one of losses.LOSSES
    c.n_critic = 1                 # discriminator updates per generator update
    c.clip_value = 0.0             # > 0: WGAN weight clipping of D to [-c, c]
    c.gp_weight = 0.0              # > 0: WGAN-GP gradient penalty weight
    c.optimizer = "adam"           # or "rmsprop" (WGAN)
    c.g_learning_rate = 2e-4
    c.d_learning_rate = 2e-4
    c.beta1 = 0.5                  # Adam
    c.beta2 = 0.999
    c.lr_decay_steps = 0           # > 0: cosine decay of both learning rates over this many steps
    c.pack = 1                     # PacGAN: samples the discriminator judges together
    c.unroll_steps = 0             # unrolled GAN: D steps looked ahead by G
    c.conditional = False          # class label into G and D (projection)
    c.ema_decay = 0.0              # > 0: keep an EMA of G's weights
    c.sample_from = "raw"          # "raw" or "ema" generator weights for sampling
    if family in ("dcgan", "wgan", "wgan_gp", "cgan"):
        c.arch = "dcgan"
    if family == "wgan":           # Arjovsky et al. 2017, Algorithm 1
        c.loss, c.n_critic, c.clip_value = "wasserstein", 5, 0.01
        c.optimizer, c.g_learning_rate, c.d_learning_rate = "rmsprop", 5e-5, 5e-5
        c.batch_size = 5 * 64      # 64 real examples per critic update
    if family == "wgan_gp":        # Gulrajani et al. 2017, Algorithm 1
        c.loss, c.n_critic, c.gp_weight = "wasserstein", 5, 10.0
        c.g_learning_rate, c.d_learning_rate, c.beta1, c.beta2 = 1e-4, 1e-4, 0.5, 0.9
        c.batch_size = 5 * 64
    if family == "cgan":
        c.conditional = True
        c.num_grid = 100           # one row of 10 per class
    return c


def _choice(config, key: str, choices) -> None:
    if config[key] not in choices:
        raise ConfigError(f"config key {key!r} must be one of {choices}, got {config[key]!r}")


def _at_least(config, key: str, low) -> None:
    if config[key] < low:
        raise ConfigError(f"config key {key!r} must be >= {low}, got {config[key]}")


def validate(config) -> None:
    _choice(config, "arch", ARCHS)
    _choice(config, "loss", losses.LOSSES)
    _choice(config, "optimizer", OPTIMIZERS)
    _choice(config, "sample_from", SAMPLE_FROM)
    _choice(config, "activation", ACTIVATIONS)
    for key, low in (("n_critic", 1), ("pack", 1), ("unroll_steps", 0), ("latent_dim", 1),
                     ("clip_value", 0.0), ("gp_weight", 0.0), ("ema_decay", 0.0), ("lr_decay_steps", 0),
                     ("d_dropout", 0.0)):
        _at_least(config, key, low)
    for key in ("g_learning_rate", "d_learning_rate"):
        if not config[key] > 0:
            raise ConfigError(f"config key {key!r} must be > 0, got {config[key]}")
    if config.ema_decay >= 1 or config.d_dropout >= 1:
        raise ConfigError("ema_decay and d_dropout must be < 1")
    if config.sample_from == "ema" and config.ema_decay == 0:
        raise ConfigError("sample_from='ema' needs ema_decay > 0 (no EMA is kept)")
    per_update = config.batch_size // config.n_critic
    if config.batch_size % config.n_critic or per_update % config.pack:
        raise ConfigError(f"batch_size ({config.batch_size}) must be a multiple of n_critic "
                          f"({config.n_critic}) times pack ({config.pack}): each critic "
                          "update takes batch_size / n_critic real examples in packs")
    toy = data.is_toy(config.dataset)
    if config.arch == "dcgan":
        if toy:
            raise ConfigError(f"arch 'dcgan' needs an image dataset, got {config.dataset!r}; "
                              "use arch 'mlp' for 2-D points")
        if len(config.g_channels) < 1 or IMAGE_SHAPE[0] % 2 ** (len(config.g_channels) - 1):
            raise ConfigError(f"g_channels {tuple(config.g_channels)}: 28 must be divisible by "
                              "2 ** (len(g_channels) - 1)")
    if config.conditional and (toy or config.pack > 1):
        raise ConfigError("conditional needs a labelled image dataset and pack = 1")


def data_shape(config) -> tuple:
    return POINT_SHAPE if data.is_toy(config.dataset) else IMAGE_SHAPE


def num_classes(config):
    return data.num_classes(config) if config.conditional else None


def make_optimizers(config) -> dict:
    # Unrolled steps differentiate through D's optimizer: sqrt(nu) has an
    # infinite derivative where a gradient is exactly 0 (dead units), so the
    # small constant goes inside the square root there.
    unrolled = config.unroll_steps > 0

    def one(lr, updates_per_step):
        if config.lr_decay_steps > 0:  # cosine to 1% over lr_decay_steps train steps
            lr = optax.cosine_decay_schedule(lr, config.lr_decay_steps * updates_per_step, 0.01)
        if config.optimizer == "rmsprop":
            # PyTorch's RMSprop (what the WGAN code used): decay 0.99, eps outside the sqrt.
            return optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=unrolled)
        return optax.adam(lr, b1=config.beta1, b2=config.beta2, eps_root=1e-12 if unrolled else 0.0)
    return {"g": one(config.g_learning_rate, 1), "d": one(config.d_learning_rate, config.n_critic)}


# --------------------------------------------------------------------------- networks


def real_examples(config, batch):
    """The batch in model space: images uint8 -> [-1, 1] (G's tanh range); points as is."""
    if data.is_toy(config.dataset):
        return batch["point"].astype(jnp.float32)  # [B, 2]
    return batch["image"].astype(jnp.float32) / 127.5 - 1.0  # [B, 28, 28, 1]


def batch_labels(config, batch):
    return batch["label"].astype(jnp.int32) if config.conditional else None


def latents(config, key, num: int):
    return jax.random.normal(key, (num, config.latent_dim))  # [num, latent_dim]


def generate(config, g_params, g_stats, z, labels, train: bool):
    """z [B, latent] -> (samples [B, *data_shape] in model space, batch stats).

    In training mode batch norm normalises with the batch's statistics and
    returns updated running averages; otherwise it uses the running averages.
    """
    model = make_generator(config, data_shape(config), not data.is_toy(config.dataset))
    onehot = None if labels is None else jax.nn.one_hot(labels, num_classes(config))
    variables = {"params": g_params}
    if g_stats is None:
        return model.apply(variables, z, onehot, train=train), None
    variables["batch_stats"] = g_stats
    if not train:
        return model.apply(variables, z, onehot, train=False), g_stats
    x, updated = model.apply(variables, z, onehot, train=True, mutable=["batch_stats"])
    return x, updated["batch_stats"]


def discriminate_packed(config, d_params, packed, labels, key, train: bool):
    """D's raw outputs on already packed inputs [B / pack, ...]. [B / pack]"""
    model = make_discriminator(config, num_classes(config))
    return model.apply({"params": d_params}, packed, labels, train=train,
                       rngs={"dropout": key} if train else {})


def discriminate(config, d_params, x, labels, key, train: bool):
    """D's raw outputs on examples [B, ...], judged in packs of `pack`. [B / pack]"""
    return discriminate_packed(config, d_params, pack_samples(x, config.pack), labels, key, train)


# --------------------------------------------------------------------------- objectives


def critic_objective(config, d_params, g_params, g_stats, real, labels, key):
    """(D's loss on a real slice and as many fresh fakes, metrics); keys: latents,
    dropout on real, dropout on fake, interpolation weights of the penalty.
    Differentiable in g_params as well (the unrolled GAN needs it)."""
    k_z, k_real, k_fake, k_gp = jax.random.split(key, 4)
    fake, _ = generate(config, g_params, g_stats, latents(config, k_z, real.shape[0]), labels,
                       train=True)
    real_out = discriminate(config, d_params, real, labels, k_real, train=True)
    fake_out = discriminate(config, d_params, fake, labels, k_fake, train=True)
    loss = losses.discriminator_loss(config.loss, real_out, fake_out)
    aux = {"d_loss": loss, "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}
    if config.gp_weight > 0:
        k_interp, k_drop = jax.random.split(k_gp)
        critic = functools.partial(discriminate_packed, config, d_params, labels=labels,
                                   key=k_drop, train=True)
        penalty = losses.gradient_penalty(critic, pack_samples(real, config.pack),
                                          pack_samples(fake, config.pack), k_interp)
        loss = loss + config.gp_weight * penalty
        aux["gp"] = penalty
    return loss, aux


def critic_update(config, g_params, g_stats, carry, inputs):
    """One optimizer step of D (params, opt_state) = carry on (real, labels, key) = inputs."""
    d_params, d_opt_state = carry
    real, labels, key = inputs
    grads, aux = jax.grad(critic_objective, argnums=1, has_aux=True)(
        config, d_params, g_params, g_stats, real, labels, key)
    updates, d_opt_state = make_optimizers(config)["d"].update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if config.clip_value > 0:
        d_params = losses.clip_weights(d_params, config.clip_value)
    return (d_params, d_opt_state), aux


def unrolled_discriminator(config, d_params, d_opt_state, g_params, g_stats, real, labels, key):
    """D's parameters after `unroll_steps` more updates against the current G,
    as a differentiable function of g_params (Metz et al. 2017, Eq. 5)."""
    steps = config.unroll_steps
    xs = (jnp.broadcast_to(real, (steps,) + real.shape),
          None if labels is None else jnp.broadcast_to(labels, (steps,) + labels.shape),
          jax.random.split(key, steps))
    update = functools.partial(critic_update, config, g_params, g_stats)
    (d_params, _), _ = jax.lax.scan(update, (d_params, d_opt_state), xs)
    return d_params


def generator_objective(config, g_params, g_stats, d_params, d_opt_state, real, labels, key):
    """(G's loss on batch_size / n_critic fresh latents, new batch stats)."""
    k_z, k_drop, k_unroll = jax.random.split(key, 3)
    fake, g_stats_new = generate(config, g_params, g_stats,
                                 latents(config, k_z, real.shape[0]), labels, train=True)
    if config.unroll_steps > 0:
        d_params = unrolled_discriminator(config, d_params, d_opt_state, g_params, g_stats,
                                          real, labels, k_unroll)
    fake_out = discriminate(config, d_params, fake, labels, k_drop, train=True)
    return losses.generator_loss(config.loss, fake_out), g_stats_new


# --------------------------------------------------------------------------- steps


def g_batch_stats(state):
    return None if state.extra is None else state.extra["g_batch_stats"]


def discriminator_steps(config, state, real, labels, key):
    """`n_critic` updates of D only, each on its own slice of the batch. -> (state, metrics)"""
    n = config.n_critic
    slices = real.reshape((n, real.shape[0] // n) + real.shape[1:])
    label_slices = None if labels is None else labels.reshape(n, -1)
    update = functools.partial(critic_update, config, state.params["g"], g_batch_stats(state))
    (d_params, d_opt_state), aux = jax.lax.scan(
        update, (state.params["d"], state.opt_state["d"]),
        (slices, label_slices, jax.random.split(key, n)))
    state = state.replace(params={**state.params, "d": d_params},
                          opt_state={**state.opt_state, "d": d_opt_state})
    return state, jax.tree.map(jnp.mean, aux)  # averaged over the critic updates


def generator_step(config, state, real, labels, key):
    """One update of G only (and its EMA / batch stats). `real` [B / n_critic, ...]
    feeds the unrolled critic steps, if any. -> (state, metrics)"""
    (loss, g_stats), grads = jax.value_and_grad(generator_objective, argnums=1, has_aux=True)(
        config, state.params["g"], g_batch_stats(state), state.params["d"],
        state.opt_state["d"], real, labels, key)
    updates, g_opt_state = make_optimizers(config)["g"].update(
        grads, state.opt_state["g"], state.params["g"])
    g_params = optax.apply_updates(state.params["g"], updates)
    ema = state.ema_params
    if config.ema_decay > 0:
        ema = losses.ema_update(ema, g_params, config.ema_decay)
    extra = None if g_stats is None else {"g_batch_stats": g_stats}
    state = state.replace(params={**state.params, "g": g_params},
                          opt_state={**state.opt_state, "g": g_opt_state},
                          ema_params=ema, extra=extra)
    return state, {"g_loss": loss}


def train_step(config, state, batch, key):
    k_d, k_g = jax.random.split(key)
    real, labels = real_examples(config, batch), batch_labels(config, batch)
    state, d_metrics = discriminator_steps(config, state, real, labels, k_d)
    m = real.shape[0] // config.n_critic
    last = slice(real.shape[0] - m, None)  # the last critic slice, for the unrolled steps
    state, g_metrics = generator_step(config, state, real[last],
                                      None if labels is None else labels[last], k_g)
    return state, {**d_metrics, **g_metrics}


def init(config, key, sample_batch) -> TrainState:
    validate(config)
    k_g, k_d, k_drop = jax.random.split(key, 3)
    real = real_examples(config, sample_batch)
    labels = batch_labels(config, sample_batch)
    first = None if labels is None else labels[:1]
    onehot = None if first is None else jax.nn.one_hot(first, num_classes(config))
    g_vars = make_generator(config, data_shape(config), not data.is_toy(config.dataset)).init(
        k_g, latents(config, k_g, 1), onehot, train=False)
    d_vars = make_discriminator(config, num_classes(config)).init(
        {"params": k_d, "dropout": k_drop}, pack_samples(real[:config.pack], config.pack),
        first, train=False)
    params = {"g": g_vars["params"], "d": d_vars["params"]}
    optimizers = make_optimizers(config)
    opt_state = {name: optimizers[name].init(params[name]) for name in ("g", "d")}
    ema = jax.tree.map(jnp.copy, params["g"]) if config.ema_decay > 0 else None
    extra = {"g_batch_stats": g_vars["batch_stats"]} if "batch_stats" in g_vars else None
    return TrainState.create(params, opt_state, ema_params=ema, extra=extra)


def eval_step(config, state, batch, key):
    """D and G losses on a held-out batch (D in inference mode): a D that
    separates test images much better than it is told apart in training is
    memorising the training set."""
    real, labels = real_examples(config, batch), batch_labels(config, batch)
    k_z, k_d = jax.random.split(key)
    fake, _ = generate(config, state.params["g"], g_batch_stats(state),
                       latents(config, k_z, real.shape[0]), labels, train=False)
    real_out = discriminate(config, state.params["d"], real, labels, k_d, train=False)
    fake_out = discriminate(config, state.params["d"], fake, labels, k_d, train=False)
    return {"d_loss": losses.discriminator_loss(config.loss, real_out, fake_out),
            "g_loss": losses.generator_loss(config.loss, fake_out),
            "d_real": jnp.mean(real_out), "d_fake": jnp.mean(fake_out)}


# --------------------------------------------------------------------------- sampling


def sample_labels(config, num: int, cond=None):
    """cgan labels: `cond` (one class or one per sample), or rows of equal classes:
    sample i gets class floor(i * K / num), so a grid of K rows shows one class per row."""
    if not config.conditional:
        return None
    if cond is None:
        return (jnp.arange(num) * num_classes(config)) // num
    return jnp.broadcast_to(jnp.asarray(cond, jnp.int32), (num,))


def sample(config, state, key, num: int, cond=None):
    """Images [num, 28, 28, 1] in [0, 1], or points [num, 2] for 2-D datasets,
    from the raw or the EMA generator (`sample_from`)."""
    g_params = state.ema_params if config.sample_from == "ema" else state.params["g"]
    x, _ = generate(config, g_params, g_batch_stats(state), latents(config, key, num),
                    sample_labels(config, num, cond), train=False)
    if data.is_toy(config.dataset):
        return x
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


# --------------------------------------------------------------------------- registry

DESCRIPTIONS = {
    "gan": "MLP GAN of the course (non-saturating loss by default; any loss, packing, "
           "unrolling, 2-D toy data)",
    "dcgan": "DCGAN: convolutional G with batch norm, LeakyReLU conv D",
    "wgan": "Wasserstein GAN with weight clipping, 5 critic steps, RMSProp",
    "wgan_gp": "Wasserstein GAN with gradient penalty, 5 critic steps, Adam(1e-4, 0.5, 0.9)",
    "cgan": "class-conditional DCGAN (one-hot into G, projection discriminator)",
}


def _register():
    from jaxgen.gan import pictures
    for name, description in DESCRIPTIONS.items():
        register(Family(name=name, description=description,
                        default_config=functools.partial(default_config, name),
                        init=init, train_step=train_step, sample=sample, eval_step=eval_step,
                        evaluations={"pictures": pictures.pictures_metric},
                        pictures=pictures.pictures))


_register()
