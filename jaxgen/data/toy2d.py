"""Toy 2-D distributions, sampled from a JAX key.

`ring8` and `grid25` follow the PacGAN mode-collapse protocol: a mixture of
equally weighted isotropic Gaussians with known centers and std, so that
`mode_centers` and `mode_std` can score how many modes a model covers.
`moons`, `swiss_roll` and `checkerboard` are the usual shapes for density
estimation and flows. Every sampler is a pure function of `(key, num)`;
`sample(name, key, num)` is jit-able with `name` and `num` static.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.errors import DatasetError

RING8_RADIUS = 1.0
RING8_STD = 0.01
GRID25_COORDS = (-4.0, -2.0, 0.0, 2.0, 4.0)
GRID25_STD = 0.05

MOONS_NOISE_STD = 0.05
# Shift that puts the mean of the noiseless two-moons shape at the origin.
MOONS_OFFSET = (0.5, 0.25)

SWISS_ROLL_TURNS = (1.5 * math.pi, 4.5 * math.pi)  # angle range, as in sklearn
SWISS_ROLL_NOISE_STD = 0.02  # in the scaled units below
# Dividing by the largest radius (= largest angle) fits the roll in [-1, 1]^2.
SWISS_ROLL_SCALE = 1.0 / SWISS_ROLL_TURNS[1]

CHECKERBOARD_SQUARES = 4  # per side, unit squares over [-2, 2]^2
# Largest in-square offset: keeps `row + offset` below the next integer after
# float32 rounding, so every point stays strictly inside its black square.
_MAX_SQUARE_OFFSET = 1.0 - 1e-6


def _ring8_centers() -> np.ndarray:
    angles = 2.0 * np.pi * np.arange(8) / 8  # [8]
    return RING8_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [8, 2]


def _grid25_centers() -> np.ndarray:
    xs, ys = np.meshgrid(GRID25_COORDS, GRID25_COORDS, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)  # [25, 2]


_MODES = {
    "ring8": (_ring8_centers, RING8_STD),
    "grid25": (_grid25_centers, GRID25_STD),
}


def _gaussian_mixture(centers: np.ndarray, std: float, key, num: int) -> jax.Array:
    """Equal-weight mixture of isotropic Gaussians at `centers` [M, 2]."""
    k_mode, k_noise = jax.random.split(key)
    modes = jax.random.randint(k_mode, (num,), 0, len(centers))  # [num]
    noise = std * jax.random.normal(k_noise, (num, 2))  # [num, 2]
    return jnp.asarray(centers, jnp.float32)[modes] + noise  # [num, 2]


def sample_ring8(key, num: int) -> jax.Array:
    return _gaussian_mixture(_ring8_centers(), RING8_STD, key, num)


def sample_grid25(key, num: int) -> jax.Array:
    return _gaussian_mixture(_grid25_centers(), GRID25_STD, key, num)


def moons_clean(angle: jax.Array, lower: jax.Array) -> jax.Array:
    """Noiseless two moons: the upper arc is the unit half circle at (0, 0),
    the lower one the mirrored half circle at (1, 0.5), both shifted by
    -MOONS_OFFSET. `angle` in [0, pi] [num]; `lower` bool [num]."""
    upper_xy = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)  # [num, 2]
    lower_xy = jnp.stack([1.0 - jnp.cos(angle), 0.5 - jnp.sin(angle)], axis=1)
    xy = jnp.where(lower[:, None], lower_xy, upper_xy)  # [num, 2]
    return xy - jnp.asarray(MOONS_OFFSET)


def sample_moons(key, num: int) -> jax.Array:
    k_moon, k_angle, k_noise = jax.random.split(key, 3)
    lower = jax.random.bernoulli(k_moon, 0.5, (num,))  # [num]
    angle = jax.random.uniform(k_angle, (num,), minval=0.0, maxval=jnp.pi)
    noise = MOONS_NOISE_STD * jax.random.normal(k_noise, (num, 2))
    return moons_clean(angle, lower) + noise  # [num, 2]


def sample_swiss_roll(key, num: int) -> jax.Array:
    # Angle uniform in [1.5 pi, 4.5 pi] with radius = angle, the 2-D slice of
    # sklearn's swiss roll; points are denser near the center, as there.
    k_angle, k_noise = jax.random.split(key)
    angle = jax.random.uniform(
        k_angle, (num,), minval=SWISS_ROLL_TURNS[0], maxval=SWISS_ROLL_TURNS[1])
    spiral = angle[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    noise = SWISS_ROLL_NOISE_STD * jax.random.normal(k_noise, (num, 2))
    return SWISS_ROLL_SCALE * spiral + noise  # [num, 2]


def sample_checkerboard(key, num: int) -> jax.Array:
    """Uniform on the black squares (column + row even) of a 4x4 board of unit
    squares over [-2, 2]^2."""
    k_x, k_row, k_y = jax.random.split(key, 3)
    half = CHECKERBOARD_SQUARES / 2
    x = jax.random.uniform(k_x, (num,), minval=-half, maxval=half)  # [num]
    # floor(x) first: floor(x + 2) could round x = -tiny up into column 2.
    column = (jnp.floor(x) + half).astype(jnp.int32)  # [num] in 0..3
    # Two black squares per column: rows of the column's parity.
    row = 2 * jax.random.randint(k_row, (num,), 0, CHECKERBOARD_SQUARES // 2) + column % 2
    offset = jnp.minimum(jax.random.uniform(k_y, (num,)), _MAX_SQUARE_OFFSET)
    y = (row.astype(jnp.float32) - half) + offset  # [num]
    return jnp.stack([x, y], axis=1)  # [num, 2]


_SAMPLERS = {
    "ring8": sample_ring8,
    "grid25": sample_grid25,
    "moons": sample_moons,
    "swiss_roll": sample_swiss_roll,
    "checkerboard": sample_checkerboard,
}
NAMES = tuple(_SAMPLERS)


def _check_name(name: str) -> str:
    if name not in _SAMPLERS:
        raise DatasetError(
            f"Unknown toy 2-D distribution {name!r}; known: {', '.join(NAMES)}."
        )
    return name


def sample(name: str, key, num: int) -> jax.Array:
    """`num` points of distribution `name`: float32 [num, 2].

    Deterministic in `key`. Under jit, `name` and `num` must be static:
    `jax.jit(sample, static_argnums=(0, 2))`.
    """
    points = _SAMPLERS[_check_name(name)](key, num)
    return points.astype(jnp.float32)  # [num, 2]


def _mode_spec(name: str):
    _check_name(name)
    if name not in _MODES:
        raise DatasetError(
            f"Toy distribution {name!r} has no discrete modes; mode centers and "
            f"std exist for {', '.join(_MODES)}."
        )
    return _MODES[name]


def mode_centers(name: str) -> np.ndarray:
    """Centers of the mixture components of `ring8` or `grid25`: [M, 2]."""
    centers_fn, _ = _mode_spec(name)
    return centers_fn()


def mode_std(name: str) -> float:
    """Std of each mixture component of `ring8` or `grid25`."""
    _, std = _mode_spec(name)
    return std


# ---------------------------------------------------------------------------
# The registry entries: a toy "dataset" is a fixed pool drawn once from the
# run's seed (fold_in by split); epochs reshuffle it.
# ---------------------------------------------------------------------------

POOL_SIZE = {"train": 100_000, "test": 10_000}


def load_pool(name: str, seed: int, split: str) -> dict:
    if split not in POOL_SIZE:
        raise DatasetError(f"toy data have the splits {tuple(POOL_SIZE)}, not {split!r}")
    key = jax.random.fold_in(jax.random.key(seed), 1 + tuple(POOL_SIZE).index(split))
    return {"point": np.asarray(sample(name, key, POOL_SIZE[split]))}


def _register() -> None:
    from jaxgen import data
    from jaxgen.data.specs import Dataset, DatasetSpec, Field

    for name in NAMES:
        spec = DatasetSpec(name=name, kind="points",
                           fields={"point": Field((2,), np.dtype(np.float32))},
                           splits=tuple(POOL_SIZE))
        data.register(Dataset(
            name=name, description=f"toy 2-D distribution {name} (points [2], float32)",
            spec=lambda config, spec=spec: spec,
            load=lambda config, split, name=name: load_pool(name, config.seed, split)))


_register()
