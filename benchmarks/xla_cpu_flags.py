"""XLA CPU flags on whole train steps, side by side in one run.

XLA_FLAGS is read once, when a process starts its backend, so every setting
gets its own process. All of them are started (and compile) first, one after
the other; then the timed runs go round the settings in turn (interleaved, so
every setting sees the same machine conditions) and the median run counts.
Each process times the engine's jitted, donated train step of each family
(default config and batch size, random batches of the dataset's shapes).

    nice -n 19 python benchmarks/xla_cpu_flags.py [--families vae,dcgan,gan]
        [--steps 5] [--repeats 3] [--out-dir DIR]

Results go to <out-dir>/xla_cpu_flags.{json,md}. `--tiny` runs tiny configs
for a few steps (a check that the script works, not a measurement).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402
from compile_time import random_batch  # noqa: E402

# name -> XLA_FLAGS. The fusion types are XLA's LibraryFusionType values:
# "dot" hands matrix products to the library, "individual_convolution" each
# convolution on its own.
SETTINGS = {
    "default": "",
    "ynn_dot": "--xla_cpu_experimental_ynn_fusion_type=dot",
    "ynn_conv": "--xla_cpu_experimental_ynn_fusion_type=individual_convolution",
    "xnn_conv": "--xla_cpu_experimental_xnn_fusion_type=individual_convolution",
    "onednn_conv": "--xla_cpu_experimental_onednn_fusion_type=individual_convolution",
    "fast_math": "--xla_cpu_enable_fast_math=true",
}
TINY = {"vae": {"enc_channels": (4, 8), "dec_channels": (8, 4), "batch_size": 8},
        "dcgan": {"batch_size": 8}, "gan": {"batch_size": 8}}


# --------------------------------------------------------------------------- child


def child(families, tiny: bool) -> None:
    """Compile every family's step, then time `run N` requests from stdin."""
    import functools

    import jax
    from jaxgen import data, registry
    from jaxgen.engine import sharding
    from jaxgen.engine.keys import run_keys
    from jaxgen.engine.loop import make_train_call

    mesh = sharding.make_mesh()
    steps, compile_s, loss = {}, {}, {}
    for name in families:
        family = registry.get(name)
        config = family.default_config()
        config.family = name
        for key, value in (TINY.get(name, {}) if tiny else {}).items():
            config[key] = value
        keys, state_sharding = run_keys(config.seed), sharding.replicated(mesh)
        host = [random_batch(data.spec(config), config.batch_size, s) for s in range(2)]
        batches = [sharding.put_batch(b, mesh) for b in host]
        state = jax.jit(functools.partial(family.init, config),
                        out_shardings=state_sharding)(keys.init, host[0])
        start = time.perf_counter()
        call = make_train_call(family, config, keys.train, state_sharding, mesh, 1)
        state, metrics = call(state, batches[0])
        jax.block_until_ready(metrics)
        compile_s[name] = round(time.perf_counter() - start, 2)
        loss[name] = {k: round(float(v), 5) for k, v in metrics.items() if k.endswith("loss")}
        steps[name] = [call, state, batches, config.batch_size]
    print("READY " + json.dumps({"compile_s": compile_s, "first_loss": loss}), flush=True)
    for line in sys.stdin:
        count = int(line.split()[1])
        seconds = {}
        for name, entry in steps.items():
            call, state, batches, _ = entry
            start = time.perf_counter()
            for i in range(count):
                state, metrics = call(state, batches[i % 2])
            jax.block_until_ready((state, metrics))
            seconds[name] = time.perf_counter() - start
            entry[1] = state
        print("RESULT " + json.dumps(seconds), flush=True)


# --------------------------------------------------------------------------- parent


def read_tagged(process, tag: str) -> dict:
    for line in process.stdout:
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise SystemExit(f"a benchmark process ended before its {tag} line "
                     f"(exit {process.wait()}); see its stderr above")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default="vae,dcgan,gan")
    p.add_argument("--settings", default=",".join(SETTINGS), help="names from SETTINGS")
    p.add_argument("--steps", type=int, default=5, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tiny", action="store_true", help="tiny configs: a check, not a measurement")
    p.add_argument("--out-dir", default=harness.RESULTS_DIR)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    if args.child:
        child(families, args.tiny)
        return {}
    settings = {name: SETTINGS[name] for name in args.settings.split(",")}
    report = {"benchmark": "xla_cpu_flags", **harness.environment(),
              "command": harness.command_line("xla_cpu_flags.py", argv, prefix="nice -n 19 "),
              "settings": {"families": families, "steps_per_run": args.steps,
                           "repeats": args.repeats, "tiny": args.tiny,
                           "xla_flags": settings}}
    processes, ready = {}, {}
    base_flags = os.environ.get("XLA_FLAGS", "")
    for name, flags in settings.items():  # one at a time: compiles do not overlap
        env = dict(os.environ, XLA_FLAGS=f"{base_flags} {flags}".strip())
        command = [sys.executable, os.path.abspath(__file__), "--child",
                   "--families", ",".join(families)] + (["--tiny"] if args.tiny else [])
        processes[name] = subprocess.Popen(command, stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, text=True, env=env)
        ready[name] = read_tagged(processes[name], "READY")
        print(f"{name:12s} ready: compile + first step {ready[name]['compile_s']}", flush=True)
    runs = {name: {f: [] for f in families} for name in settings}
    for r in range(args.repeats):
        for name, process in processes.items():
            process.stdin.write(f"run {args.steps}\n")
            process.stdin.flush()
            for family, seconds in read_tagged(process, "RESULT").items():
                runs[name][family].append(round(seconds, 4))
            print(f"repeat {r + 1}/{args.repeats} {name:12s} "
                  + ", ".join(f"{f} {runs[name][f][-1]:.3f} s" for f in families), flush=True)
    for process in processes.values():
        process.stdin.close()
        process.wait()
    results = {}
    for name in settings:
        results[name] = {}
        for family in families:
            med = statistics.median(runs[name][family])
            results[name][family] = {"seconds_per_run": runs[name][family],
                                     "ms_per_step": round(1000 * med / args.steps, 2),
                                     "vs_default": None,
                                     "compile_and_first_step_s": ready[name]["compile_s"][family],
                                     "first_loss": ready[name]["first_loss"][family]}
    if "default" in results:
        for name in settings:
            for family in families:
                base = results["default"][family]["ms_per_step"]
                results[name][family]["vs_default"] = round(
                    base / results[name][family]["ms_per_step"], 3)
    report["results"] = results
    harness.write_report(args.out_dir, "xla_cpu_flags", report, markdown)
    return report


def markdown(report: dict) -> str:
    s, results = report["settings"], report["results"]
    families = s["families"]
    lines = ["# XLA CPU flags on whole train steps", "", *harness.header_lines(report),
             f"- families {', '.join(families)} (default configs"
             + (", TINY sizes: a check of the script, not a measurement" if s["tiny"] else "")
             + f"), {s['repeats']} interleaved runs of {s['steps_per_run']} steps per setting, "
             "median; each setting in its own process", "",
             "| setting | XLA_FLAGS | " + " | ".join(f"{f} ms/step (speed vs default)"
                                                    for f in families) + " |",
             "|---|---|" + "---:|" * len(families)]
    for name, per_family in results.items():
        cells = [f"{v['ms_per_step']:.1f} ({v['vs_default']:.2f}x)" if v["vs_default"]
                 else f"{v['ms_per_step']:.1f}" for v in per_family.values()]
        lines.append(f"| {name} | `{s['xla_flags'][name] or '(none)'}` | "
                     + " | ".join(cells) + " |")
    lines += ["", "First-step losses (same initial state and batch in every setting; a flag "
              "that changes the numerics shows here):", ""]
    for name, per_family in results.items():
        lines.append(f"- {name}: " + "; ".join(f"{f} {v['first_loss']}"
                                               for f, v in per_family.items()))
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
