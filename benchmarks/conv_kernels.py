"""Single convolutions and one GEMM: XLA's CPU kernels (under several XLA_FLAGS)
against PyTorch's (oneDNN), forward, input gradient and weight gradient apart.

The train-step benchmarks show jaxgen slower than PyTorch eager for the
convolutional families on the 2-core CPU; this one shows why, op by op, and
whether one of XLA's CPU library switches changes it. Each XLA setting and
PyTorch run in their own process (XLA_FLAGS is read once, when the backend
starts), timed in turn, `--repeats` rounds, median reported.

Every process gets glibc's malloc told to keep freed memory
(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_): by default a tight loop of
one op maps and unmaps its multi-megabyte output on every call, and the page
faults then cost as much as the convolution (PyTorch's 28x28x32 forward:
11 ms against 5 ms). In a train step the allocator is warm; so it is here.

    python benchmarks/conv_kernels.py            # writes results/conv_kernels.{json,md}

Shapes are those of the models: 3x3 "SAME" convolutions, NHWC in XLA and NCHW
in PyTorch, batch 64.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import harness

BATCH = 64
# (height = width, in channels, out channels): RealNVP / diffusion U-Net / DCGAN sizes.
CONV_SHAPES = [(28, 32, 32), (14, 64, 64), (7, 128, 128)]
GEMM_SHAPE = (256, 1024, 512)  # [M, K] @ [K, N]: the MLP GAN's widest layer at batch 256
XLA_SETTINGS = {
    "xla": "",
    "xla+ynn_dot": "--xla_cpu_experimental_ynn_fusion_type=dot",
    "xla+xnn_dot": "--xla_cpu_experimental_xnn_fusion_type=dot",
    "xla+onednn": "--xla_cpu_use_onednn=true",
}


def median_ms(fn, iters: int) -> float:
    """Median over 3 blocks of `iters` calls of the per-call milliseconds (after 2 warm-up calls)."""
    fn()
    fn()
    blocks = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        blocks.append((time.perf_counter() - start) / iters * 1e3)
    return statistics.median(blocks)


def shape_name(h: int, c_in: int, c_out: int) -> str:
    return f"conv {h}x{h} {c_in}->{c_out}"


def gemm_name() -> str:
    return "gemm {}x{} @ {}x{}".format(GEMM_SHAPE[0], GEMM_SHAPE[1], GEMM_SHAPE[1], GEMM_SHAPE[2])


# --------------------------------------------------------------------------- XLA (worker)


def xla_timings(iters: int) -> dict:
    import jax
    import jax.numpy as jnp

    dims = ("NHWC", "HWIO", "NHWC")
    out = {}
    for h, c_in, c_out in CONV_SHAPES:
        kx, kw, kg = jax.random.split(jax.random.key(0), 3)
        x = jax.random.normal(kx, (BATCH, h, h, c_in))
        w = jax.random.normal(kw, (3, 3, c_in, c_out)) * 0.1
        g = jax.random.normal(kg, (BATCH, h, h, c_out))

        def conv(x, w):
            return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dims)

        programs = {
            "fwd": (jax.jit(conv), (x, w)),
            "dx": (jax.jit(lambda x, w, g: jax.vjp(lambda x: conv(x, w), x)[1](g)[0]), (x, w, g)),
            "dw": (jax.jit(lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0]), (x, w, g)),
        }
        for op, (fn, args) in programs.items():
            out[f"{shape_name(h, c_in, c_out)} {op}"] = median_ms(
                lambda: fn(*args).block_until_ready(), iters)
    m, k, n = GEMM_SHAPE
    a = jax.random.normal(jax.random.key(1), (m, k))
    b = jax.random.normal(jax.random.key(2), (k, n))
    matmul = jax.jit(jnp.matmul)
    out[gemm_name()] = median_ms(lambda: matmul(a, b).block_until_ready(), iters)
    return out


# --------------------------------------------------------------------------- PyTorch


def torch_timings(torch, iters: int) -> dict:
    import torch.nn.functional as F

    out = {}
    gen = torch.Generator().manual_seed(0)
    for h, c_in, c_out in CONV_SHAPES:
        x = torch.randn(BATCH, c_in, h, h, generator=gen)
        w = torch.randn(c_out, c_in, 3, 3, generator=gen) * 0.1
        g = torch.randn(BATCH, c_out, h, h, generator=gen)
        with torch.no_grad():
            programs = {
                "fwd": lambda: F.conv2d(x, w, padding=1),
                "dx": lambda: torch.nn.grad.conv2d_input(x.shape, w, g, padding=1),
                "dw": lambda: torch.nn.grad.conv2d_weight(x, w.shape, g, padding=1),
            }
            for op, fn in programs.items():
                out[f"{shape_name(h, c_in, c_out)} {op}"] = median_ms(fn, iters)
    m, k, n = GEMM_SHAPE
    a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    out[gemm_name()] = median_ms(lambda: a @ b, iters)
    return out


# --------------------------------------------------------------------------- main


# Keep freed blocks in the heap instead of returning them to the OS (see above).
WARM_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2 ** 30), "MALLOC_TRIM_THRESHOLD_": str(2 ** 32)}


def run_worker(framework: str, iters: int, flags: str = "") -> dict:
    env = dict(os.environ, XLA_FLAGS=flags, **WARM_MALLOC)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", framework,
                           "--iters", str(iters)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=10, repeats=3)
    p.add_argument("--worker", choices=("xla", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--iters", type=int, default=None, help="calls per timing block")
    args = p.parse_args(argv)
    iters = args.iters or args.steps
    if args.worker:
        timings = (xla_timings(iters) if args.worker == "xla"
                   else torch_timings(harness.setup_torch(), iters))
        print(json.dumps(timings))
        return {}
    harness.setup_torch()
    report = {"benchmark": "conv_kernels", **harness.environment(),
              "command": harness.command_line("conv_kernels.py", argv)}
    rounds = {name: [] for name in [*XLA_SETTINGS, "pytorch"]}
    for _ in range(args.repeats):  # interleaved: every setting once per round
        for name, flags in XLA_SETTINGS.items():
            rounds[name].append(run_worker("xla", iters, flags))
        rounds["pytorch"].append(run_worker("torch", iters))
    ms = {name: {op: statistics.median(r[op] for r in runs) for op in runs[0]}
          for name, runs in rounds.items()}
    report.update({"settings": {"batch": BATCH, "conv_shapes": CONV_SHAPES,
                                "gemm_shape": GEMM_SHAPE, "xla_flags": XLA_SETTINGS,
                                "calls_per_block": iters, "rounds": args.repeats,
                                "malloc_env": WARM_MALLOC},
                   "ms": ms})
    harness.write_report(args.out_dir, "conv_kernels", report, markdown)
    return report


def markdown(report: dict) -> str:
    s, ms = report["settings"], report["ms"]
    names = list(ms)
    lines = ["# Convolution and GEMM kernels: XLA CPU (with library flags) vs PyTorch", "",
             *harness.header_lines(report),
             f"- batch {s['batch']}, 3x3 'SAME' convolutions; median over {s['rounds']} "
             f"interleaved rounds of the median of 3 blocks of {s['calls_per_block']} calls",
             "- every setting in its own process, with glibc malloc keeping freed memory: "
             + ", ".join(f"{k}={v}" for k, v in s["malloc_env"].items()),
             "- XLA settings: " + "; ".join(f"`{n}` = `{f or '(no flags)'}`"
                                             for n, f in s["xla_flags"].items()), "",
             "Milliseconds per call (lower is better); the last column is "
             "PyTorch's time over plain XLA's (below 1: PyTorch is faster).", "",
             "| op | " + " | ".join(names) + " | pytorch / xla |",
             "|---|" + "---:|" * (len(names) + 1)]
    for op in ms["xla"]:
        cells = " | ".join(f"{ms[n][op]:.2f}" for n in names)
        lines.append(f"| {op} | {cells} | {ms['pytorch'][op] / ms['xla'][op]:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
