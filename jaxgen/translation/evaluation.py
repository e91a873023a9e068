"""The translators' `jaxgen eval` metric, `translation`, over the first `num`
test examples through the one test-set runner.

Direction a -> b (both families), on G(a):
    l1_ab, psnr_ab, ssim_ab      against the truth b, when the source is paired
                                 (images in [0, 1]; means and standard errors)
    classifier_accuracy_ab       the Fashion-MNIST classifier (the extractor) on
                                 G(a) against a's labels: the analogue of
                                 pix2pix's FCN score
    classifier_accuracy_real_b   the same classifier on the true b (paired), and
    classifier_score_ratio_ab    their ratio
    classifier_accuracy_a_grey   on the untranslated a, made grey by the channel
                                 mean when a is RGB (CyCADA's baseline)
    fid_TAG_ab                   FID of G(a) against the b test split's statistics
CycleGAN adds b -> a (fid_TAG_ba, against a's test statistics, when a's
images fit the extractor) and the cycle reconstruction errors
cycle_l1_a = |F(G(a)) - a|, cycle_l1_b = |G(F(b)) - b| (in [0, 1] units).
A metric whose images do not fit the extractor (28x28x1) is left out and
named in `skipped`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import data
from jaxgen.metrics import runner
from jaxgen.metrics.extractor import load_extractor
from jaxgen.metrics.feature_distances import frechet_distance
from jaxgen.metrics.image_similarity import psnr, ssim
from jaxgen.metrics.reference import dataset_config, reference_stats
from jaxgen.translation import cyclegan
from jaxgen.translation.models import to_signed, to_unit
from jaxgen.translation.sampling import translate_ab


def side_labels(config, split: str = "test"):
    """Labels of side a's examples (None if a has none), aligned with load_split."""
    if config.source == "paired":
        return data.load_split(config, split).get("label")
    view = data.side_config(config, "a")
    return data.get(view.dataset).load(view, split).get("label")


def grey(images):
    """[B, H, W, C] -> [B, H, W, 1] by the channel mean (identity on grey images)."""
    return images if images.shape[-1] == 1 else jnp.mean(images, axis=-1, keepdims=True)


def fits(extractor, images) -> bool:
    return tuple(images.shape[1:]) == tuple(extractor.image_shape)


def per_batch(config, state, extractor, paired: bool, batch, key):
    """Per-example values of one test batch (module docstring)."""
    a, b = to_signed(batch["a"]), to_signed(batch["b"])
    fake_b = translate_ab(config, state, a, key)  # [B, H, W, C_b] in [-1, 1]
    out_b, true_b = to_unit(fake_b), to_unit(b)
    values = {}
    if paired:
        values.update(l1_ab=jnp.mean(jnp.abs(out_b - true_b), axis=(1, 2, 3)),
                      psnr_ab=psnr(out_b, true_b), ssim_ab=ssim(out_b, true_b))
    if fits(extractor, out_b):
        logits, values["features_ab"] = extractor(out_b)
        values["predicted_ab"] = jnp.argmax(logits, -1)
        if paired:
            values["predicted_real_b"] = jnp.argmax(extractor(true_b)[0], -1)
    if fits(extractor, grey(to_unit(a))):
        values["predicted_a_grey"] = jnp.argmax(extractor(grey(to_unit(a)))[0], -1)
    if config.family == "cyclegan":
        p = state.params
        fake_a = cyclegan.translate(config, p, "g_ba", b)
        values["cycle_l1_a"] = jnp.mean(jnp.abs(to_unit(cyclegan.translate(
            config, p, "g_ba", fake_b)) - to_unit(a)), axis=(1, 2, 3))
        values["cycle_l1_b"] = jnp.mean(jnp.abs(to_unit(cyclegan.translate(
            config, p, "g_ab", fake_a)) - true_b), axis=(1, 2, 3))
        if fits(extractor, to_unit(fake_a)):
            values["features_ba"] = extractor(to_unit(fake_a))[1]
    return values


def fid(features, reference) -> float:
    f = np.asarray(features, np.float64)
    return float(frechet_distance(reference["mean"], reference["cov"], f.mean(0),
                                  np.cov(f, rowvar=False)))


def translation(run, key, num: int) -> dict:
    config, extractor = run.config, load_extractor()
    paired = config.source == "paired"
    arrays = data.load_split(config, "test")
    fn = jax.jit(functools.partial(per_batch, config, run.state, extractor, paired))
    values = runner.per_example(fn, {k: arrays[k] for k in ("a", "b")}, key, num)
    count = len(next(iter(values.values())))
    out, tag = {"num_images": int(count)}, extractor.name
    for name in ("l1_ab", "psnr_ab", "ssim_ab", "cycle_l1_a", "cycle_l1_b"):
        if name in values:
            out[name], out[name + "_stderr"] = runner.mean_and_stderr(values[name])
    labels = side_labels(config)
    if labels is not None:
        labels = np.asarray(labels)[:count]
        for name in ("predicted_ab", "predicted_real_b", "predicted_a_grey"):
            if name in values:
                metric = "classifier_accuracy_" + name[len("predicted_"):]
                out[metric] = float(np.mean(values[name] == labels))
        if "classifier_accuracy_real_b" in out:
            out["classifier_score_ratio_ab"] = (out["classifier_accuracy_ab"]
                                                / out["classifier_accuracy_real_b"])
    b_reference = dataset_config(config.dataset_b) if config.dataset_b else config
    if "features_ab" in values:
        out[f"fid_{tag}_ab"] = fid(values["features_ab"], reference_stats(extractor, b_reference))
    if "features_ba" in values and config.source == "unpaired":
        out[f"fid_{tag}_ba"] = fid(values["features_ba"],
                                   reference_stats(extractor, dataset_config(config.dataset)))
    directions = ("features_ab", "features_ba") if config.family == "cyclegan" else (
        "features_ab",)
    skipped = [n for n in directions if n not in values]
    if skipped:
        out["skipped"] = ", ".join(f"fid and accuracy of {n[-2:]} (images do not fit the "
                                   f"extractor {tag})" for n in skipped)
    return out


EVALUATIONS = {"translation": translation}
