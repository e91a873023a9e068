"""Print the markdown table of experiments/results/vae.md from finished runs.

    python experiments/vae/results_table.py runs/vae_latent2 runs/vae_latent32 ...

Reads each run's eval.json (from `jaxgen eval`: `elbo` for the ELBO columns,
the shared `nll` for the IWAE bound) and the train/eval seconds that
experiments/vae/run_all.sh records, so the table is never typed by hand.
"""
import json
import os
import sys

from jaxgen import registry
from jaxgen.engine import config as config_lib
from jaxgen.metrics import bits_per_dim
from jaxgen.metrics.runner import likelihood_dims


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def seconds(workdir: str) -> dict:
    """train_seconds / eval_seconds lines of runs/train_times.txt for this run."""
    out, name = {}, os.path.basename(os.path.normpath(workdir))
    path = os.path.join(os.path.dirname(os.path.normpath(workdir)), "train_times.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) >= 3 and parts[0] == name:
                out[parts[1]] = int(parts[2])
    return out


def elbo_bits_per_dim(config, ev: dict):
    """The ELBO's bits/dim, for a likelihood of 8-bit images (the logistic) only."""
    if config.get("likelihood") != "logistic" or "elbo_nll_nats" not in ev:
        return None
    return float(bits_per_dim(ev["elbo_nll_nats"], likelihood_dims(config)))


def row(workdir: str) -> str:
    saved = json.load(open(os.path.join(workdir, "config.json")))
    config = config_lib.complete(saved, registry.get(saved["family"]))  # old runs too
    ev = json.load(open(os.path.join(workdir, "eval.json")))
    t = seconds(workdir)
    model = f"{config['family']}{' (conditional)' if config.get('conditional') else ''}"
    return (f"| {os.path.basename(os.path.normpath(workdir))} | {model} | {config['latent_dim']} "
            f"| {config['likelihood']} | {config['steps']} | {fmt(t.get('train_seconds', 0) / 60, 1)} "
            f"| {fmt(ev.get('elbo_nll_nats', ev.get('recon_nats')), 1)} "
            f"| {fmt(elbo_bits_per_dim(config, ev), 3)} "
            # iwae_*: the names in eval.json files written before the shared `nll`
            f"| {fmt(ev.get('nll_nats', ev.get('iwae_nll_nats')), 1)} "
            f"| {fmt(ev.get('bpd', ev.get('iwae_nll_bpd')), 3)} "
            f"| {fmt(ev.get('kl_nats'), 2)} | {ev.get('active_dims', 'n/a')} "
            f"| {fmt(ev.get('fid_fmnist'), 1)} | {fmt(ev.get('precision_fmnist'), 3)} "
            f"| {fmt(ev.get('recall_fmnist'), 3)} |")


if __name__ == "__main__":
    print("| run | model | latent | likelihood | steps | train min | test NLL (ELBO, nats) "
          "| ELBO bits/dim | IWAE NLL (nats) | IWAE bits/dim | KL (nats) | active dims "
          "| FID-FMNIST | precision | recall |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workdir in sys.argv[1:]:
        print(row(workdir))
