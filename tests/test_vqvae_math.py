"""The VQ-VAE's quantizer and losses against independent references."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgen.vqvae import losses, quantizer


class DenseAutoEncoder(nn.Module):
    """A stand-in with the VQAutoEncoder's interface (32x32 -> 8x8 x D -> 32x32 x 2)
    made of dense layers, which compile in a moment: the properties tested here
    hold for any encoder and decoder."""

    code_dim: int = 3

    def setup(self):
        self.enc = nn.Dense(self.code_dim)
        self.dec_hidden = nn.Dense(8)
        self.dec_out = nn.Dense(32)

    def encode(self, x):  # [B, 32, 32, 1] -> [B, 8, 8, D], one 4x4 patch per position
        b = x.shape[0]
        patches = x.reshape(b, 8, 4, 8, 4).transpose(0, 1, 3, 2, 4).reshape(b, 8, 8, 16)
        return self.enc(patches)

    def decode(self, z):  # [B, 8, 8, D] -> [B, 32, 32, 2]
        b = z.shape[0]
        out = self.dec_out(jnp.tanh(self.dec_hidden(z))).reshape(b, 8, 8, 4, 4, 2)
        return out.transpose(0, 1, 3, 2, 4, 5).reshape(b, 32, 32, 2)

    def __call__(self, x):
        return self.decode(self.encode(x))


def random_codebook_and_latents(k=7, d=3, shape=(2, 4, 4)):
    codebook = jax.random.normal(jax.random.key(0), (k, d))
    z = jax.random.normal(jax.random.key(1), shape + (d,)) * 1.5
    return codebook, z


def test_nearest_code_matches_numpy_brute_force():
    codebook, z = random_codebook_and_latents()
    zn, en = np.asarray(z, np.float64), np.asarray(codebook, np.float64)
    brute = np.array([[[np.argmin([np.sum((zn[b, i, j] - e) ** 2) for e in en])
                        for j in range(zn.shape[2])] for i in range(zn.shape[1])]
                      for b in range(zn.shape[0])])
    np.testing.assert_array_equal(quantizer.nearest_code(z, codebook), brute)
    dist = ((zn[..., None, :] - en) ** 2).sum(-1)  # [B, h, w, K]
    np.testing.assert_allclose(quantizer.squared_distances(z, codebook), dist, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(quantizer.lookup(codebook, brute), en[brute], rtol=1e-6)


def test_a_latent_on_a_code_maps_to_that_code():
    codebook, _ = random_codebook_and_latents()
    np.testing.assert_array_equal(quantizer.nearest_code(codebook, codebook), np.arange(7))


def test_straight_through_gives_the_encoder_exactly_the_decoders_gradient():
    """d loss / d z_e through quantize-then-decode equals d loss / d z at z = z_q."""
    model = DenseAutoEncoder()
    pixels = jax.random.randint(jax.random.key(2), (2, 28, 28, 1), 0, 256).astype(jnp.uint8)
    params = jax.jit(model.init)(jax.random.key(3), jnp.zeros((2, 32, 32, 1)))
    z_e = jax.jit(lambda x: model.apply(params, x, method="encode"))(
        jnp.pad(pixels / 255.0, ((0, 0), (2, 2), (2, 2), (0, 0))))  # [2, 8, 8, 3]
    codebook = jax.random.normal(jax.random.key(4), (5, 3))

    def recon_of_decoded(z):
        return jnp.sum(losses.reconstruction_nll(model.apply(params, z, method="decode"), pixels))

    def recon_through_quantizer(z):
        z_q = quantizer.lookup(codebook, quantizer.nearest_code(z, codebook))
        return recon_of_decoded(quantizer.straight_through(z, z_q))

    z_q = quantizer.lookup(codebook, quantizer.nearest_code(z_e, codebook))
    decoder_grad = jax.jit(jax.grad(recon_of_decoded))(z_q)
    assert float(jnp.abs(decoder_grad).max()) > 0  # the check below is not 0 == 0
    # Equal up to float32 rounding: z_e + (z_q - z_e) is z_q to within an ulp.
    np.testing.assert_allclose(jax.jit(jax.grad(recon_through_quantizer))(z_e), decoder_grad,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(jax.jit(recon_through_quantizer)(z_e),
                               jax.jit(recon_of_decoded)(z_q), rtol=1e-6)
    # Nothing flows into z_q through the straight-through path.
    _, to_zq = jax.grad(lambda a, b: jnp.sum(quantizer.straight_through(a, b) ** 2),
                        argnums=(0, 1))(z_e, z_q)
    assert float(jnp.abs(to_zq).max()) == 0.0


def test_commitment_gradient_goes_to_the_encoder_only_and_codebook_loss_to_the_codes():
    codebook, z_e = random_codebook_and_latents()
    z_q = quantizer.lookup(codebook, quantizer.nearest_code(z_e, codebook))
    g_e, g_q = jax.grad(lambda a, b: jnp.sum(quantizer.commitment_loss(a, b)), (0, 1))(z_e, z_q)
    np.testing.assert_allclose(g_e, 2 * (z_e - z_q), rtol=1e-6)
    assert float(jnp.abs(g_q).max()) == 0.0
    g_e, g_q = jax.grad(lambda a, b: jnp.sum(quantizer.codebook_loss(a, b)), (0, 1))(z_e, z_q)
    assert float(jnp.abs(g_e).max()) == 0.0
    np.testing.assert_allclose(g_q, 2 * (z_q - z_e), rtol=1e-6)
    # Values: per example the sum of squared distances to the nearest code.
    per_position = np.min(((np.asarray(z_e)[..., None, :] - np.asarray(codebook)) ** 2).sum(-1),
                          axis=-1)
    np.testing.assert_allclose(quantizer.commitment_loss(z_e, z_q), per_position.sum((1, 2)),
                               rtol=1e-5)


@pytest.mark.parametrize("learn_codebook", [True, False])
def test_codebook_gradient_of_the_full_loss_is_the_codebook_loss_gradient(learn_codebook):
    """In the stage-1 loss the codebook gets only 2 (e_k - z_e) summed over its
    positions (divided by the batch), never the decoder's or the commitment's
    gradient; with EMA updates (no codebook loss) it gets nothing at all."""
    model = DenseAutoEncoder()
    pixels = jax.random.randint(jax.random.key(5), (3, 28, 28, 1), 0, 256).astype(jnp.uint8)
    params = jax.jit(model.init)(jax.random.key(6), jnp.zeros((3, 32, 32, 1)))
    codebook = 0.1 * jax.random.normal(jax.random.key(7), (4, 3))

    def loss(cb):
        return losses.autoencoder_loss(model, params, cb, pixels, (32, 32), 0.25,
                                       learn_codebook)[0]

    grad = jax.jit(jax.grad(loss))(codebook)
    fwd = jax.jit(losses.quantize_forward, static_argnums=(0, 4))(model, params, codebook, pixels,
                                                                   (32, 32))
    z = np.asarray(fwd["z_e"]).reshape(-1, 3)
    idx = np.asarray(fwd["indices"]).ravel()
    expected = np.zeros((4, 3))
    if learn_codebook:
        for k in range(4):
            expected[k] = 2 * np.sum(np.asarray(codebook)[k] - z[idx == k], axis=0) / 3
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)


def test_ema_update_against_a_hand_computed_step():
    """K = 2, D = 1, codes e = (0, 4) with counts (1, 1); the batch z = (1, 3, 10)
    is assigned to codes (0, 0, 1); decay 0.5, eps 0.1. By hand:
    N = 0.5 (1, 1) + 0.5 (2, 1) = (1.5, 1);  m = 0.5 (0, 4) + 0.5 (4, 10) = (2, 7);
    N~ = (N + 0.1) / (2.5 + 0.2) * 2.5 = (4/2.7, 2.75/2.7);  e = m / N~ = (1.35, 18.9/2.75)."""
    stats0 = quantizer.ema_init(jnp.array([[0.0], [4.0]]))
    stats1, codebook = quantizer.ema_update(stats0, jnp.array([[1.0], [3.0], [10.0]]),
                                            jnp.array([0, 0, 1]), decay=0.5, epsilon=0.1)
    np.testing.assert_allclose(stats1["cluster_size"], [1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(stats1["embed_sum"], [[2.0], [7.0]], rtol=1e-6)
    np.testing.assert_allclose(codebook, [[1.35], [18.9 / 2.75]], rtol=1e-5)


def test_ema_codebook_converges_to_the_cluster_means():
    """Repeating one assignment, each code tends to the mean of its points."""
    stats = quantizer.ema_init(jnp.array([[0.0, 0.0], [5.0, 5.0]]))
    z = jnp.array([[1.0, 2.0], [3.0, 0.0], [6.0, 6.0], [8.0, 4.0], [7.0, 5.0]])
    idx = jnp.array([0, 0, 1, 1, 1])
    for _ in range(300):
        stats, codebook = quantizer.ema_update(stats, z, idx, decay=0.9, epsilon=1e-5)
    np.testing.assert_allclose(codebook, [[2.0, 1.0], [7.0, 5.0]], rtol=1e-3)


@pytest.mark.parametrize("k", [2, 16, 128])
def test_perplexity_hits_its_bounds(k):
    uniform = quantizer.code_counts(jnp.arange(5 * k) % k, k)
    np.testing.assert_allclose(quantizer.perplexity(uniform), k, rtol=1e-5)
    one_code = quantizer.code_counts(jnp.full((40,), k - 1), k)
    np.testing.assert_allclose(quantizer.perplexity(one_code), 1.0, rtol=1e-6)


def test_perplexity_is_exp_entropy():
    counts = np.array([5.0, 0.0, 1.0, 7.0, 2.0])
    np.testing.assert_allclose(quantizer.perplexity(jnp.asarray(counts)),
                               np.exp(stats.entropy(counts / counts.sum())), rtol=1e-5)
    np.testing.assert_array_equal(quantizer.code_counts(jnp.array([[0, 3], [3, 3]]), 5),
                                  [1, 0, 0, 3, 0])


def test_unigram_prior_is_normalised_and_matches_its_nll():
    usage = jnp.array([0.5, 0.3, 0.2, 0.0])
    log_probs = losses.unigram_log_probs(usage)
    np.testing.assert_allclose(jax.nn.logsumexp(log_probs), 0.0, atol=1e-6)
    assert np.isfinite(float(log_probs[3]))  # smoothing gives unused codes mass
    codes = jnp.array([[[0, 1], [2, 0]]])
    np.testing.assert_allclose(losses.unigram_nll(usage, codes),
                               [-(2 * log_probs[0] + log_probs[1] + log_probs[2])], rtol=1e-6)


def test_init_codebook_from_data_takes_distinct_encoder_outputs():
    z = jnp.arange(60.0).reshape(2, 5, 2, 3)
    codebook = np.asarray(quantizer.init_codebook_from_data(jax.random.key(0), z, 8))
    rows = {tuple(r) for r in np.asarray(z).reshape(-1, 3)}
    assert codebook.shape == (8, 3) and all(tuple(r) in rows for r in codebook)
    assert len({tuple(r) for r in codebook}) == 8
