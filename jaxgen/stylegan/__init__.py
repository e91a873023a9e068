"""StyleGAN-style generator family (`stylegan`)."""
