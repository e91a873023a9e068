"""Autoregressive families: PixelCNN, Gated PixelCNN (PixelCNN++ elements), PixelRNN."""
