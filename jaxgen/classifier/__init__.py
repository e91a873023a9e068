"""Image classifiers (MLP, CNN): the supervised baseline and the feature
extractor of the image metrics. Importing `jaxgen.classifier.family`
registers the `classifier` family; `python -m jaxgen.build_extractor`
re-creates the shipped extractor weights."""
