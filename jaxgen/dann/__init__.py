"""Domain-adversarial training (DANN, Ganin et al. 2016): a feature extractor,
a label classifier and a domain classifier joined by a gradient-reversal
layer. Importing `jaxgen.dann.family` registers the `dann` family."""
