# Shortcuts; README.md gives the same commands in full.
.PHONY: install data test train bench

install:
	python3 -m pip install -e ".[test]"

data:
	apt-get update && apt-get install -y dataset-fashion-mnist

test:
	python3 -m pytest -q -n 2 tests

train:
	jaxgen train --config experiments/quickstart/vae.py --workdir runs/quickstart
	jaxgen sample --workdir runs/quickstart --num 64 --out runs/quickstart/samples.png

bench:
	python3 -m pip install -e ".[bench]"
	python3 benchmarks/vae_train_step.py
