# Shortcuts; README.md gives the same commands in full.
.PHONY: install data test train bench

install:
	python3 -m pip install -e ".[test]"

data:
	apt-get update && apt-get install -y dataset-fashion-mnist

test:
	python3 -m pytest -q tests

train:
	jaxgen train vae --workdir runs/vae
	jaxgen sample --workdir runs/vae --num 64 --out runs/vae/samples.png

bench:
	python3 -m pip install -e ".[bench]"
	python3 benchmarks/vae_train_step.py
