"""Image-to-image translation: Pix2Pix (paired, conditional GAN + L1) and
CycleGAN (unpaired, two generators and two discriminators, cycle
consistency). Both share the U-Net generator and the PatchGAN discriminator
(models.py) and the translation metrics (evaluation.py). Importing
`jaxgen.translation.family` registers `pix2pix` and `cyclegan`."""
