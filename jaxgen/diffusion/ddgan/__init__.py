"""The denoising diffusion GAN (`ddgan`, Xiao et al. 2022), built on the diffusion package."""
