"""A compute-bound diffusion U-Net train step and its model-FLOPs utilisation.

The `ddpm` family's U-Net a little wider than the DDPM CIFAR-10 model (144 base
channels, mults 1-2-2-2, 2 residual blocks per level, attention at the
lowest resolution: 43.6M parameters; at 128 base channels it has 34.4M) on
32x32 RGB images, batch 128, timed
as the engine runs it (jitted, donated step: forward, backward, clip, Adam,
EMA). Its FLOPs per step are XLA's own count of the compiled step
(`jax.jit(step).lower(state, batch).compile().cost_analysis()["flops"]`), so

    MFU = FLOPs per step / seconds per step / the device's peak FLOP/s

with the peak from PEAK_TFLOPS (dense, no sparsity) for the precision the
step's matrix products use: float32 runs take the TF32 tensor-core peak
(XLA's default precision on NVIDIA GPUs), bfloat16 runs the bf16 peak.

Precisions: `float32`, and `bfloat16` through the config key
`compute_dtype=bfloat16` (parameters and optimizer state stay float32). That
key comes with the fsdp/mixed-precision work; where this build's config has
no `compute_dtype`, the bfloat16 row is reported as skipped, not faked.

    python benchmarks/unet_mfu.py                    # on a GPU (run_gpu.sh runs it)
    python benchmarks/unet_mfu.py --tiny --out-dir /tmp/unet   # a CPU check of the script

Results go to <out-dir>/unet_mfu.{json,md}.
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402
from compile_time import cost_flops, random_batch  # noqa: E402

# Dense peak TFLOP/s by device kind (as jax.devices()[0].device_kind names
# them, matched by substring) and matrix precision: the vendors' data-sheet
# figures without structured sparsity (SXM parts; H200 has H100's compute).
PEAK_TFLOPS = {
    "H200": {"bfloat16": 989.4, "float32": 494.7},
    "H100": {"bfloat16": 989.4, "float32": 494.7},
    "A100": {"bfloat16": 312.0, "float32": 156.0},
}
LARGE = {"base_channels": 144, "channel_mults": (1, 2, 2, 2), "num_res_blocks": 2,
         "batch_size": 128}
TINY = {"base_channels": 8, "channel_mults": (1, 2), "num_res_blocks": 1, "batch_size": 4}
MIN_PARAMS = 35_000_000  # the "compute-bound" size


def peak_tflops(device_kind: str, dtype: str) -> float | None:
    for name, peaks in PEAK_TFLOPS.items():
        if name.lower() in device_kind.lower():
            return peaks[dtype]
    return None


def image_folder_root() -> str:
    """A folder holding one 32x32 PNG: `image_folder`'s spec (32x32 RGB, no
    labels) reads only the listing; the timed batches are random."""
    from PIL import Image
    root = tempfile.mkdtemp(prefix="unet_mfu_")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(os.path.join(root, "0.png"))
    return root


def unet_config(sizes: dict, dtype: str, root: str):
    """The ddpm config, or None when `dtype` needs a key this build lacks."""
    from jaxgen.engine.config import build_config
    overrides = {"dataset": "image_folder", "data_path": root, "image_size": "32",
                 "channels": "3", **{k: str(v) for k, v in sizes.items()}}
    config = build_config("ddpm", overrides=overrides)
    if dtype != "float32":
        if "compute_dtype" not in config:
            return None
        config.compute_dtype = dtype
    return config


def main(argv=None) -> dict:
    p = harness.arg_parser(__doc__.split("\n")[0], steps=20, repeats=3)
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--batch-size", type=int, default=0, help="0: 128 (4 with --tiny)")
    p.add_argument("--tiny", action="store_true", help="tiny U-Net: a check, not a measurement")
    args = p.parse_args(argv)
    import jax

    sizes = dict(TINY if args.tiny else LARGE)
    if args.batch_size:
        sizes["batch_size"] = args.batch_size
    device_kind = jax.devices()[0].device_kind
    report = {"benchmark": "unet_mfu", **harness.environment(),
              "command": harness.command_line("unet_mfu.py", argv),
              "device_kind": device_kind, "peak_tflops_table": PEAK_TFLOPS,
              "settings": {**sizes, "channel_mults": list(sizes["channel_mults"]),
                           "tiny": args.tiny, "steps_per_run": args.steps,
                           "repeats": args.repeats, "warmup_steps": args.warmup}}
    root = image_folder_root()
    impls, skipped = {}, {}
    for dtype in args.dtypes.split(","):
        config = unet_config(sizes, dtype, root)
        if config is None:
            skipped[dtype] = ("this build's config has no compute_dtype key (it comes with "
                              "the mixed-precision work); not measured")
            print(f"{dtype}: skipped: {skipped[dtype]}", flush=True)
            continue
        host = [random_batch(harness_spec(config), config.batch_size, s)
                for s in range(args.num_batches)]
        impls[dtype] = harness.EngineStep(config, host)
    results = harness.time_interleaved(impls, sizes["batch_size"], args.steps, args.repeats,
                                       args.warmup) if impls else {}
    for dtype, impl in impls.items():
        compiled = impl.step.lower(impl.state, impl.batches[0]).compile()
        flops = cost_flops(compiled)
        seconds = results[dtype]["ms_per_step"] / 1000
        peak = peak_tflops(device_kind, dtype)
        results[dtype].update({
            "parameters": impl.num_params,
            "tflop_per_step": None if flops is None else round(flops / 1e12, 4),
            "achieved_tflops": None if flops is None else round(flops / seconds / 1e12, 3),
            "peak_tflops": peak,
            "mfu": None if flops is None or peak is None else round(flops / seconds / 1e12 / peak, 4)})
    report.update({"results": results, "skipped": skipped,
                   "parameters": next(iter(impls.values())).num_params if impls else None})
    report["compute_bound_size"] = bool(report["parameters"]
                                        and report["parameters"] >= MIN_PARAMS)
    harness.write_report(args.out_dir, "unet_mfu", report, markdown)
    return report


def harness_spec(config):
    from jaxgen import data
    return data.spec(config)


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = ["# Diffusion U-Net train step: model-FLOPs utilisation", "",
             *harness.header_lines(report),
             f"- device: {report['device_kind']}; U-Net base {s['base_channels']} channels, "
             f"mults {s['channel_mults']}, {s['num_res_blocks']} res blocks, 32x32x3, batch "
             f"{s['batch_size']}, {report['parameters']} parameters"
             + (" (TINY: a check of the script, not a measurement)" if s["tiny"] else ""),
             f"- {s['warmup_steps']} warmup steps, {s['repeats']} interleaved runs of "
             f"{s['steps_per_run']} steps; median; FLOPs from XLA's cost analysis", "",
             "| precision | ms/step | ex/s | TFLOP/step | achieved TFLOP/s | peak TFLOP/s | MFU |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for dtype, r in report["results"].items():
        mfu = "n/a (no peak for this device)" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        lines.append(f"| {dtype} | {r['ms_per_step']:.2f} | {r['examples_per_second']:.1f} | "
                     f"{r['tflop_per_step']} | {r['achieved_tflops']} | {r['peak_tflops']} | "
                     f"{mfu} |")
    for dtype, why in report["skipped"].items():
        lines.append(f"| {dtype} | skipped: {why} ||||||")
    lines += ["", "Peaks used (dense TFLOP/s; float32 = TF32 tensor cores): "
              + "; ".join(f"{k} bf16 {v['bfloat16']}, fp32 {v['float32']}"
                          for k, v in report["peak_tflops_table"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
