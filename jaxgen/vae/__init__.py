"""Autoencoders and VAEs: models, losses, family glue, evaluation and pictures."""
