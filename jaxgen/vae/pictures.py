"""Pictures of a trained autoencoder or VAE, written by `jaxgen eval --metrics pictures`:
samples, reconstructions, latent_space (PCA to 2-D when latent_dim > 2), latent_grid
(2-D unconditional models only), interpolation and latent_arithmetic, one PNG each.

"Code" means the posterior mean for a VAE and z for an autoencoder. Every random
choice (samples, which test images) comes from `key`: the same key, the same
pictures. Each picture is one jitted call; the test set is encoded once, in chunks.
Images keep the dataset's shape [H, W, C] throughout (grey or colour).

A dataset without labels gets no latent_arithmetic (it needs class means), one
colour in latent_space, and interpolations between random test images.

A conditional model gets its own labels in every encode and decode, and no
latent_grid (the plane would need a class too) and no latent_arithmetic: its code
is trained to carry no class, so a class direction in it means little (to change
the class of a conditional model, change its label).
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from jaxgen import data
from jaxgen.engine.images import image_grid
from jaxgen.nn import precision
from jaxgen.vae import losses, models, sampling

SAMPLE_SIDE = 8
NUM_RECONSTRUCTIONS = 16
NUM_SCATTER = 5000
LATENT_GRID_SIDE = 20
NUM_INTERPOLATIONS = 4
INTERPOLATION_STEPS = 10
# Visually clear class pairs (A, B) of Fashion-MNIST: Sneaker -> Ankle boot, Trouser -> Dress.
FASHION_ARITHMETIC_PAIRS = ((7, 9), (1, 3))
ARITHMETIC_IMAGES_PER_PAIR = 3
ARITHMETIC_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
ENCODE_CHUNK = 500  # bounds the encoder's activation memory on the 10,000 test images
PIXELS_PER_INCH = 50  # figures show each image pixel as 2 screen pixels at dpi 100


def codes_of(config, params, pixels, labels):
    """uint8 [B, H, W, C] -> codes [B, D]: the posterior mean (VAE) or z (autoencoder)."""
    code = models.encode(config, params, pixels, labels)
    return code[0] if models.is_variational(config) else code


def codes_in_chunks(config, params, pixels, labels):
    """`codes_of` over a whole split, ENCODE_CHUNK images at a time inside one jit."""
    def one(pixel_label):  # lax.map vmaps this over each chunk
        pixel, label = pixel_label
        return codes_of(config, params, pixel[None], label[None])[0]
    return jax.lax.map(one, (pixels, labels), batch_size=ENCODE_CHUNK)


def reconstruction_images(config, params, pixels, labels):
    """Decoded codes of the inputs. [B, H, W, C] in [0, 1]"""
    return sampling.decode_mean(config, params, codes_of(config, params, pixels, labels), labels)


def decode_mean_onehot(config, params, z, onehot):
    """`sampling.decode_mean` with a (possibly fractional) one-hot [B, K] or None for the class."""
    out = precision.to_float32(models.make_model(config).apply(params, z, onehot, method="decode"))
    return losses.decoder_mean(out, data.image_shape(config))


def interpolation_images(config, params, pixels_a, labels_a, pixels_b, labels_b,
                         num_steps: int):
    """Decoded points on the straight line from code(a) to code(b). [P, S, H, W, C]

    A conditional model's one-hot label moves along the same line, so both
    ends are exactly the reconstructions of a and b.
    """
    t = jnp.linspace(0.0, 1.0, num_steps)[None, :, None]  # [1, S, 1]
    # (1 - t) a + t b, not a + t (b - a): exactly a at t = 0 and b at t = 1.
    between = lambda a, b: (1.0 - t) * a[:, None, :] + t * b[:, None, :]  # [P, S, .]
    z = between(codes_of(config, params, pixels_a, labels_a),
                codes_of(config, params, pixels_b, labels_b))  # [P, S, D]
    onehot_a = models.class_onehot(config, labels_a)
    onehot = None if onehot_a is None else between(onehot_a, models.class_onehot(config, labels_b))
    flat = lambda x: None if x is None else x.reshape(-1, x.shape[-1])  # [P*S, .]
    images = decode_mean_onehot(config, params, flat(z), flat(onehot))  # [P*S, H, W, C]
    return images.reshape(z.shape[:2] + images.shape[1:])


def arithmetic_images(config, params, pixels, labels, directions, alphas):
    """Decoded code(x) + alpha * direction for each alpha. [B, len(alphas), H, W, C]

    `directions` is one latent direction [D] or one per image [B, D].
    """
    z = codes_of(config, params, pixels, labels)  # [B, D]
    alphas = jnp.asarray(alphas, z.dtype)[None, :, None]  # [1, A, 1]
    moved = z[:, None, :] + alphas * jnp.broadcast_to(directions, z.shape)[:, None, :]  # [B, A, D]
    repeated_labels = jnp.repeat(labels, alphas.shape[1])  # [B*A], in the order of `moved`
    images = sampling.decode_mean(config, params, moved.reshape(-1, z.shape[-1]),
                                  repeated_labels)
    return images.reshape(moved.shape[:2] + images.shape[1:])


def latent_plane(values_1, values_2) -> np.ndarray:
    """Grid points [len(values_2) * len(values_1), 2] in reading order: the top row is the
    largest z2, z1 grows to the right, so the picture is laid out like a plot."""
    z1, z2 = np.meshgrid(np.asarray(values_1), np.asarray(values_2)[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=-1).astype(np.float32)


def pca_2d(codes: np.ndarray):
    """Project codes [N, D] on their two principal axes -> ([N, 2], variance fraction kept)."""
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    kept = float(np.sum(singular[:2] ** 2) / np.sum(singular ** 2))
    return centred @ axes[:2].T, kept


def first_of_class(labels: np.ndarray, classes, count: int = 1) -> np.ndarray:
    """Indices of the first `count` images of each class, in class order. [len(classes)*count]"""
    return np.concatenate([np.flatnonzero(labels == c)[:count] for c in classes])


def class_mean(codes: np.ndarray, labels: np.ndarray, c: int) -> np.ndarray:
    return codes[labels == c].mean(axis=0)  # [D]


def usable_pairs(class_names, labels) -> tuple:
    """The arithmetic pairs whose two classes both have test images."""
    present = set(np.unique(labels).tolist())
    return tuple((a, b) for a, b in arithmetic_pairs(class_names)
                 if a in present and b in present)


def arithmetic_pairs(class_names) -> tuple:
    """Class pairs (A, B) for latent_arithmetic: hand-picked ones for Fashion-MNIST's
    classes, else the first classes in pairs (0 -> 1, 2 -> 3)."""
    if tuple(class_names) == data.FASHION_MNIST_CLASSES:
        return FASHION_ARITHMETIC_PAIRS
    count = min(4, len(class_names)) // 2 * 2
    return tuple((a, a + 1) for a in range(0, count, 2))


def class_names_of(config) -> list:
    """Names of the dataset's classes (their numbers if it names none); ["image"] without labels."""
    spec = data.spec(config)
    if not spec.labelled:
        return ["image"]
    return list(spec.class_names) or [str(k) for k in range(spec.num_classes)]


def _cell_centres(count: int, size: int, pad: int = 2) -> np.ndarray:
    """Pixel centre of each row (or column) of an `image_grid` picture."""
    return pad + np.arange(count) * (size + pad) + size / 2


def save_grid_figure(path, rows, title, row_labels=(), col_labels=(),
                     xlabel=None, ylabel=None) -> str:
    """Images [R, C, H, W, channels] in [0, 1] as a grid with a title and labelled rows/columns."""
    h, w = rows.shape[2:4]
    grid = image_grid(np.reshape(rows, (-1, h, w, rows.shape[-1])), rows.shape[1])  # uint8
    # A bare Figure, not pyplot: no global backend or figure list to clean up.
    height, width = grid.shape[0] / PIXELS_PER_INCH, grid.shape[1] / PIXELS_PER_INCH
    fig = Figure(figsize=(max(width + 1.5, 4.0), height + 1.2))
    ax = fig.subplots()
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks(_cell_centres(len(row_labels), h), row_labels)
    ax.set_xticks(_cell_centres(len(col_labels), w), col_labels,
                  rotation=90 if max(map(len, col_labels), default=0) > 4 else 0)
    ax.tick_params(length=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def save_scatter(path, points, labels, class_names, title, axis_names) -> str:
    fig = Figure(figsize=(8.5, 6.5))
    ax = fig.subplots()
    for c, name in enumerate(class_names):
        chosen = labels == c
        ax.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.6, color=f"C{c}",
                   label=name, rasterized=True)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, title="class")
    ax.set(title=title, xlabel=axis_names[0], ylabel=axis_names[1])
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _samples(run, key, path, names):
    if run.config.conditional:
        labels = jnp.repeat(jnp.arange(len(names)), SAMPLE_SIDE)  # one row per class
        images = np.asarray(run.sample(key, len(labels), cond=labels))  # [K*8, H, W, C]
        return save_grid_figure(path, images.reshape((len(names), SAMPLE_SIDE) + images.shape[1:]),
                                "Samples of the conditional VAE, one row per class", names)
    images = np.asarray(run.sample(key, SAMPLE_SIDE * SAMPLE_SIDE))  # [64, H, W, C]
    source = ("the prior" if models.is_variational(run.config)
              else "a Gaussian fitted to the training codes")
    return save_grid_figure(path, images.reshape((SAMPLE_SIDE, SAMPLE_SIDE) + images.shape[1:]),
                            f"Samples: codes drawn from {source}")


def _reconstructions(run, test, path):
    pixels, labels = test["image"][:NUM_RECONSTRUCTIONS], test["label"][:NUM_RECONSTRUCTIONS]
    fn = jax.jit(functools.partial(reconstruction_images, run.config))
    recons = fn(run.state.params, pixels, labels)  # [16, H, W, C]
    rows = np.stack([pixels / 255.0, np.asarray(recons)])  # [2, 16, H, W, C]
    return save_grid_figure(path, rows, "Test images (top) and their reconstructions "
                            "(bottom, decoded codes)", ["input", "reconstruction"])


def _latent_space(run, codes, labels, path, names):
    points, dim = codes[:NUM_SCATTER], codes.shape[1]
    what = "posterior means" if models.is_variational(run.config) else "codes"
    if dim == 1:  # nothing to project: spread the points over a second axis by class
        points = np.concatenate([points, labels[:NUM_SCATTER, None].astype(np.float32)], 1)
        title, axes = f"{len(points)} test {what} (1-D; y = class)", ("z1", "class")
    elif dim == 2:
        title, axes = f"{len(points)} test {what} in the 2-D latent space", ("z1", "z2")
    else:
        points, kept = pca_2d(points)
        title = (f"{len(points)} test {what}, {dim}-D projected to 2-D by PCA "
                 f"({kept:.0%} of the variance)")
        axes = ("principal component 1", "principal component 2")
    return save_scatter(path, points, labels[:NUM_SCATTER], names, title, axes)


def _latent_grid(run, codes, path):
    side = LATENT_GRID_SIDE
    if models.is_variational(run.config):
        # Quantiles 5%..95% of N(0, 1): neighbouring columns hold equal prior mass.
        values_1 = values_2 = np.asarray(
            jax.jit(jax.scipy.stats.norm.ppf)(jnp.linspace(0.05, 0.95, side)))
        span = "quantiles 5%-95% of the N(0, I) prior"
    else:  # no prior: cover where the test codes are
        low, high = np.percentile(codes, [1, 99], axis=0)  # [2], [2]
        values_1, values_2 = np.linspace(low[0], high[0], side), np.linspace(low[1], high[1], side)
        span = "1st-99th percentiles of the test codes"
    fn = jax.jit(functools.partial(sampling.decode_mean, run.config))
    images = np.asarray(fn(run.state.params, latent_plane(values_1, values_2)))  # [400, H, W, C]
    fmt = lambda vs: [f"{v:.2f}" for v in vs]
    return save_grid_figure(path, images.reshape((side, side) + images.shape[1:]),
                            f"Decoder over the latent plane ({span})",
                            fmt(values_2[::-1]), fmt(values_1), xlabel="z1", ylabel="z2")


def interpolation_ends(key, test, names, labelled: bool):
    """(a, b) test indices [P] each, and a row label per pair: images of two
    different random classes, or (no labels, or too few classes in the test
    split) two random images."""
    present = np.unique(test["label"])  # classes with at least one test image
    if not labelled or len(present) < 2 * NUM_INTERPOLATIONS:
        order = np.asarray(jax.random.permutation(key, len(test["image"])))
        a, b = order[:NUM_INTERPOLATIONS], order[NUM_INTERPOLATIONS:2 * NUM_INTERPOLATIONS]
        if labelled:
            return a, b, [f"{names[test['label'][i]]} → {names[test['label'][j]]}"
                          for i, j in zip(a, b)]
        return a, b, [f"image {i} → image {j}" for i, j in zip(a, b)]
    classes = present[np.asarray(jax.random.permutation(key, len(present)))]
    classes = classes[:2 * NUM_INTERPOLATIONS]
    ends = first_of_class(test["label"], classes).reshape(NUM_INTERPOLATIONS, 2)  # [P, 2]
    return ends[:, 0], ends[:, 1], [f"{names[i]} → {names[j]}"
                                    for i, j in classes.reshape(-1, 2)]


def _interpolation(run, key, test, path, names, labelled):
    a, b, row_labels = interpolation_ends(key, test, names, labelled)
    fn = jax.jit(functools.partial(interpolation_images, run.config,
                                   num_steps=INTERPOLATION_STEPS))
    path_images = fn(run.state.params, test["image"][a], test["label"][a],
                     test["image"][b], test["label"][b])  # [P, S, H, W, C]
    rows = np.concatenate([test["image"][a, None] / 255.0, np.asarray(path_images),
                           test["image"][b, None] / 255.0], axis=1)  # [P, S + 2, H, W, C]
    steps = [f"t={t:.2f}" for t in np.linspace(0, 1, INTERPOLATION_STEPS)]
    label_too = " (the label moves with the code)" if run.config.conditional else ""
    return save_grid_figure(
        path, rows, f"Interpolation: decoded (1-t) code(a) + t code(b){label_too};\n"
        "the originals at both ends", row_labels, ["input a"] + steps + ["input b"])


def _latent_arithmetic(run, test, codes, path, names):
    pairs = usable_pairs(names, test["label"])
    per_image = ARITHMETIC_IMAGES_PER_PAIR
    chosen = [first_of_class(test["label"], [a], per_image) for a, _ in pairs]
    idx = np.concatenate(chosen)  # [up to pairs * per_image]
    directions = np.concatenate([np.repeat([class_mean(codes, test["label"], b)
                                            - class_mean(codes, test["label"], a)], len(i), 0)
                                 for (a, b), i in zip(pairs, chosen)])  # [len(idx), D]
    fn = jax.jit(functools.partial(arithmetic_images, run.config, alphas=ARITHMETIC_ALPHAS))
    moved = fn(run.state.params, test["image"][idx], test["label"][idx], directions)
    rows = np.concatenate([test["image"][idx, None] / 255.0, np.asarray(moved)], axis=1)
    row_labels = [f"{names[a]} → {names[b]}" for (a, b), i in zip(pairs, chosen) for _ in i]
    return save_grid_figure(
        path, rows, "Latent arithmetic: decoded code + α (mean code of B − mean code of A)",
        row_labels, ["input"] + [f"α={a:g}" for a in ARITHMETIC_ALPHAS])


def write_pictures(run, key, outdir: str) -> list[str]:
    """Write the pictures listed in the module docstring into `outdir`; return their paths."""
    config = run.config
    os.makedirs(outdir, exist_ok=True)
    labelled = data.spec(config).labelled
    names = class_names_of(config)
    k_samples, k_order, k_pairs = jax.random.split(key, 3)
    arrays = data.load_split(config, "test")
    # A random order of the whole test set: the first images of it feed every picture.
    order = np.asarray(jax.random.permutation(k_order, len(arrays["image"])))
    labels = arrays["label"] if labelled else np.zeros(len(arrays["image"]))  # one "class"
    test = {"image": np.asarray(arrays["image"])[order],
            "label": np.asarray(labels).astype(np.int32)[order]}
    codes = np.asarray(jax.jit(functools.partial(codes_in_chunks, config))(
        run.state.params, test["image"], test["label"]))  # [N, D]
    out = lambda name: os.path.join(outdir, name)
    paths = [_samples(run, k_samples, out("samples.png"), names),
             _reconstructions(run, test, out("reconstructions.png")),
             _latent_space(run, codes, test["label"], out("latent_space.png"), names)]
    if config.latent_dim == 2 and not config.conditional:
        paths.append(_latent_grid(run, codes, out("latent_grid.png")))
    paths.append(_interpolation(run, k_pairs, test, out("interpolation.png"), names, labelled))
    if labelled and usable_pairs(names, test["label"]) and not config.conditional:
        paths.append(_latent_arithmetic(run, test, codes, out("latent_arithmetic.png"), names))
    return paths
