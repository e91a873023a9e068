"""The tiny config of every registered family, for the contract test
(tests/test_contract.py) and any test that wants a family that trains in
seconds. A family without an entry here fails the contract test: a new
family is covered the moment it registers, once it says how to be small.

Values are strings, as on the command line. What is tested with them is the
machinery, not the quality of the model.
"""
from __future__ import annotations

# The engine's schedule for every tiny run: 2 steps, everything due often.
SCHEDULE = {"batch_size": "8", "steps": "2", "log_every": "1", "eval_every": "2",
            "sample_every": "2", "ckpt_every": "1", "eval_batches": "1", "num_grid": "4"}

VAE = {"enc_channels": "(4, 8, 8)", "dec_channels": "(8, 8, 4)", "latent_dim": "2"}
GAN = {"g_hidden": "(16, 16)", "d_hidden": "(16, 16)", "g_channels": "(8, 4, 4)",
       "d_channels": "(4, 8)", "latent_dim": "4"}
AUTOREGRESSIVE = {"hidden_channels": "4", "num_layers": "1", "head_hidden": "0",
                  "num_mixtures": "2", "first_kernel_size": "3"}
FLOW = {"num_levels": "1", "steps_per_level": "1", "hidden": "4", "num_blocks": "0"}

TINY = {
    "autoencoder": VAE,
    "vae": {**VAE, "iwae_samples": "2"},
    "classifier": {"cnn_channels": "(4, 8, 8)", "feature_dim": "8", "mlp_hidden": "(16, 8)"},
    "gan": GAN,
    "dcgan": GAN,
    "wgan": {**GAN, "batch_size": "10"},
    "wgan_gp": {**GAN, "batch_size": "10"},
    "cgan": {**GAN, "batch_size": "10"},
    "ddpm": {"base_channels": "8", "channel_mults": "(1, 2)", "attention": "false",
             "num_timesteps": "20", "sample_steps": "3", "vb_timesteps": "4",
             "mlp_width": "16", "mlp_blocks": "1"},
    "ddgan": {"base_channels": "8", "channel_mults": "(1,)", "d_channels": "(4,)",
              "latent_dim": "3", "mapping_layers": "0", "num_timesteps": "2"},
    "pixelcnn": AUTOREGRESSIVE,
    "pixelrnn": AUTOREGRESSIVE,
    "realnvp": FLOW,
    "glow": FLOW,
    "vqvae": {"hidden_channels": "(4, 4)", "num_res_blocks": "1", "code_dim": "3",
              "num_codes": "6"},
    "pix2pix": {"g_channels": "(4, 4)", "d_channels": "4", "d_layers": "1"},
    "cyclegan": {"g_channels": "(4, 4)", "d_channels": "4", "d_layers": "1", "pool_size": "3"},
    "dann": {"feature_channels": "(4, 4)", "label_hidden": "(8,)", "domain_hidden": "(8,)"},
    "hvae": {"width": "4", "groups_per_scale": "(1, 1)", "latent_channels": "2",
             "num_mixtures": "2", "iwae_samples": "2", "iwae_chunk_size": "2",
             "kl_warmup_steps": "2", "blocks_per_scale": "0", "output_blocks": "0"},
    "vaegan": {**VAE, "d_channels": "(4, 8)", "feature_layer": "2"},
    "stylegan": {"g_channels": "(4, 4, 4, 4)", "d_channels": "(4, 4, 4, 4)", "latent_dim": "4",
                 "w_dim": "4", "mapping_depth": "1", "conv": "flax"},
    "textgen": {"vocab_size": "50", "seq_len": "8", "embed_dim": "8", "num_layers": "1",
                "num_heads": "2", "max_len": "32", "sample_len": "6", "speed_tokens": "6",
                "speed_batch": "2", "eval_samples": "4"},
}


def tiny_overrides(family: str, **overrides) -> dict:
    """SCHEDULE <- the family's tiny values <- `overrides` (any values, made strings)."""
    if family not in TINY:
        raise KeyError(f"family {family!r} has no tiny config in tests/tiny_configs.py")
    values = {**SCHEDULE, **TINY[family]}
    values.update({k: str(v) for k, v in overrides.items()})
    return values
