"""Time to the first training step (tracing + XLA compilation) of every
registered family, and its whole-step throughput at the default batch size.

Each family runs in a fresh process (no compilation cache, nothing compiled
before it), with its `default_config()` and random batches of the shapes its
dataset declares (speed does not depend on the values):

  init_s           jit(init) on the first batch, compile included
  lower_s          tracing train_step and lowering it to HLO
  compile_s        XLA compiling it (`lowered.compile()`)
  first_step_s     the first call of the compiled step
  time_to_first_step_s = lower_s + compile_s + first_step_s (what a run waits
                   for after the data is ready; init_s comes before it)
  ex/s, ms/step    the median of timed steps after the first, at least
                   --min-steps of them and until --min-time seconds
  gflop_per_step   XLA's own count (`compiled.cost_analysis()["flops"]`)

    nice -n 19 python benchmarks/compile_time.py [--families vae,gan] [--out-dir DIR] [--update]

Results go to <out-dir>/compile_time.{json,md}, with the load average before
and after each family (this machine is shared: compile times grow with load)
and the date each row was measured. `--update` measures only the families
named (or, with no --families, those without a successful row) and keeps
the other rows of the existing report, so a family added later or one that
failed under load is measured without re-running the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402

RESULT_PREFIX = "RESULT "


def random_batch(spec, batch_size: int, seed: int = 0) -> dict:
    """Random host arrays with the shapes, dtypes and value ranges of `spec`'s fields."""
    rng = np.random.default_rng(seed)
    batch = {}
    for name, field in spec.fields.items():
        shape = (batch_size,) + tuple(field.shape)
        if np.issubdtype(field.dtype, np.integer):
            low = 0 if field.low is None else int(field.low)
            high = 255 if field.high is None else int(field.high)
            batch[name] = rng.integers(low, high + 1, shape).astype(field.dtype)
        else:
            values = rng.standard_normal(shape)
            if field.low is not None and field.high is not None:
                values = rng.uniform(field.low, field.high, shape)
            batch[name] = values.astype(field.dtype)
    return batch


def cost_flops(compiled) -> float | None:
    """FLOPs of one call as XLA counts them (None where the backend gives no count)."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # some backends do not implement it
        return None
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops is not None and flops >= 0 else None


def measure_family(name: str, min_steps: int, min_time: float, max_steps: int) -> dict:
    """One family's compile and step times, in this (fresh) process."""
    import functools

    import jax
    from jaxgen import data, registry
    from jaxgen.engine import sharding
    from jaxgen.engine.keys import run_keys
    from jaxgen.engine.loop import make_train_call

    family = registry.get(name)
    config = family.default_config()
    config.family = name
    mesh = sharding.make_mesh()
    keys = run_keys(config.seed)
    state_sharding = sharding.replicated(mesh)
    host = [random_batch(data.spec(config), config.batch_size, seed) for seed in range(2)]
    batches = [sharding.put_batch(b, mesh) for b in host]

    start = time.perf_counter()
    init = jax.jit(functools.partial(family.init, config), out_shardings=state_sharding)
    state = jax.block_until_ready(init(keys.init, host[0]))
    init_s = time.perf_counter() - start

    call = make_train_call(family, config, keys.train, state_sharding, mesh, steps_per_call=1)
    t0 = time.perf_counter()
    lowered = call.lower(state, batches[0])
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    state, metrics = compiled(state, batches[0])
    jax.block_until_ready((state, metrics))
    t3 = time.perf_counter()

    seconds, begin = [], time.perf_counter()
    while len(seconds) < max_steps and (len(seconds) < min_steps
                                        or time.perf_counter() - begin < min_time):
        s = time.perf_counter()
        state, metrics = compiled(state, batches[len(seconds) % 2])
        jax.block_until_ready((state, metrics))
        seconds.append(time.perf_counter() - s)
    step_s = statistics.median(seconds)
    flops = cost_flops(compiled)
    return {"family": name, "batch_size": int(config.batch_size),
            "dataset": str(config.dataset), "parameters": harness.count_params(state.params),
            "init_s": round(init_s, 2), "lower_s": round(t1 - t0, 2),
            "compile_s": round(t2 - t1, 2), "first_step_s": round(t3 - t2, 2),
            "time_to_first_step_s": round(t3 - t0, 2),
            "timed_steps": len(seconds), "ms_per_step": round(1000 * step_s, 1),
            "examples_per_second": round(config.batch_size / step_s, 1),
            "gflop_per_step": None if flops is None else round(flops / 1e9, 3),
            "gflop_per_second": None if flops is None else round(flops / 1e9 / step_s, 2)}


def run_child(name: str, args) -> dict:
    """`measure_family` in a fresh process with no compilation cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    command = [sys.executable, os.path.abspath(__file__), "--child", name,
               "--min-steps", str(args.min_steps), "--min-time", str(args.min_time),
               "--max-steps", str(args.max_steps)]
    load_before = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        result = {"family": name, "error": f"timed out after {args.timeout} s"}
    else:
        lines = [l for l in done.stdout.splitlines() if l.startswith(RESULT_PREFIX)]
        if done.returncode == 0 and lines:
            result = json.loads(lines[-1][len(RESULT_PREFIX):])
        else:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"family": name, "error": f"exit {done.returncode}: {tail[:300]}"}
    result["wall_s"] = round(time.perf_counter() - start, 1)
    result["date"] = harness.utc_now()
    result["load_before"], result["load_after"] = load_before, [round(x, 2)
                                                                for x in os.getloadavg()]
    return result


def markdown(report: dict) -> str:
    lines = ["# Time to the first train step and whole-step throughput, every family", "",
             *harness.header_lines(report),
             *[f"- updated {u['date']}: `{u['command']}`, load average before "
               f"{u.get('load_average_before')} (the rows measured then say so in 'measured')"
               for u in report.get("updates", [])],
             "- each family in a fresh process (no compilation cache), its default config and "
             "batch size, random batches of its dataset's shapes; steps timed after the first "
             f"(at least {report['settings']['min_steps']}, until "
             f"{report['settings']['min_time']} s), median", "",
             "| family | batch | params | init s | lower s | compile s | first step s | "
             "to first step s | ms/step | ex/s | GFLOP/step | GFLOP/s | load before | measured |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in report["results"]:
        # Rows from before rows carried their own date were measured on the report's date.
        measured = r.get("date", report["date"])
        if "error" in r:
            lines.append(f"| {r['family']} | failed: {r['error']} |||||||||||| "
                         f"{r['load_before'][0]} | {measured} |")
            continue
        lines.append(
            f"| {r['family']} | {r['batch_size']} | {r['parameters']:,} | {r['init_s']} | "
            f"{r['lower_s']} | {r['compile_s']} | {r['first_step_s']} | "
            f"{r['time_to_first_step_s']} | {r['ms_per_step']} | {r['examples_per_second']} | "
            f"{r['gflop_per_step']} | {r['gflop_per_second']} | {r['load_before'][0]} | "
            f"{measured} |")
    lines.append("")
    return "\n".join(lines)


def niceness_prefix() -> str:
    """`nice -n N ` for the niceness this process runs at ("" at 0), for its command line."""
    niceness = os.nice(0)
    return f"nice -n {niceness} " if niceness else ""


def previous_rows(out_dir: str, report: dict) -> dict:
    """family -> its row in the existing compile_time.json (each stamped with the
    date it was measured); the new report keeps the old one's first date and
    command so the header still says where the kept rows came from."""
    path = os.path.join(out_dir, "compile_time.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        old = json.load(f)
    report["updates"] = old.get("updates", []) + [
        {"date": report["date"], "command": report["command"],
         "load_average_before": report["load_average_before"]}]
    report["date"], report["command"] = old["date"], old["command"]
    report["load_average_before"] = old["load_average_before"]
    return {r["family"]: {**r, "date": r.get("date", old["date"])} for r in old["results"]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default="", help="comma-separated (default: every family)")
    p.add_argument("--min-steps", type=int, default=2)
    p.add_argument("--min-time", type=float, default=10.0)
    p.add_argument("--max-steps", type=int, default=50)
    p.add_argument("--timeout", type=float, default=600, help="seconds per family")
    p.add_argument("--out-dir", default=harness.RESULTS_DIR)
    p.add_argument("--update", action="store_true",
                   help="keep the existing report's other rows; measure only --families or, "
                        "without it, the families that have no successful row")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(RESULT_PREFIX + json.dumps(measure_family(args.child, args.min_steps,
                                                        args.min_time, args.max_steps)))
        return {}
    from jaxgen import registry
    asked = [n for n in args.families.split(",") if n]
    unknown = sorted(set(asked) - set(registry.names()))
    if unknown:
        sys.exit(f"compile_time.py: unknown families {unknown}; known: {registry.names()}")
    report = {"benchmark": "compile_time", **harness.environment(),
              "command": harness.command_line("compile_time.py", argv, prefix=niceness_prefix()),
              "settings": {"min_steps": args.min_steps, "min_time": args.min_time,
                           "max_steps": args.max_steps}, "results": []}
    kept = previous_rows(args.out_dir, report) if args.update else {}
    names = asked or [n for n in registry.names() if "error" in kept.get(n, {"error": ""})]
    report["settings"]["families"] = names
    report["results"] = [kept[n] for n in sorted(kept) if n not in names]
    for name in names:
        result = run_child(name, args)
        report["results"].append(result)
        report["results"].sort(key=lambda r: r["family"])
        print(json.dumps(result), flush=True)
        # After every family, so a run stopped part-way keeps what it measured.
        harness.write_report(args.out_dir, "compile_time", report, markdown)
    return report


if __name__ == "__main__":
    main()
