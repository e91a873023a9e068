"""The generative learning trilemma, measured on one machine with one protocol (issue 21).

    nice -n 19 python experiments/trilemma/run.py --budget-minutes 3 \
        --families gan,vae,ddpm --workdir-root runs/trilemma --out experiments/results/trilemma
    python experiments/trilemma/run.py --replot --out experiments/results/trilemma

For every selected entry of experiments/trilemma/configs/ (and configs/grid25/):
train it for a fixed step count, the budget in minutes times the config's
stated steps/s (the measured train seconds are in the table), or reuse its
finished workdir; then evaluate each of its rows with `jaxgen eval`:

    Fashion-MNIST  sample_time (images/s, network evaluations per image), nll
                   (bits/dim, where the family has a likelihood), then fid, pr,
                   classes on N = min(--num, images/s x --sample-seconds) samples
    grid25         modes (modes covered, high-quality fraction) on --points-num samples

and write trilemma.json, trilemma.md, trilemma.png (FID against log10 images/s,
colour = recall) and trilemma_curve.png (FID against training minutes of the
best three entries, from the periodic metrics rows of --curve-points and every
budget's workdir under --workdir-root) into --out.
"""
from __future__ import annotations

import argparse
import glob
import os
import platform
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and status 2, no usage block
        print(f"trilemma: error: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def parse_args(argv):
    parser = _Parser(prog="trilemma", description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-minutes", type=float, default=5.0,
                        help="training minutes per entry at the configs' stated steps/s")
    parser.add_argument("--families", default=None,
                        help="comma-separated entries (default: all); see --list")
    parser.add_argument("--workdir-root", default="runs/trilemma")
    parser.add_argument("--configs", default=None,
                        help="folder of entry configs (default experiments/trilemma/configs; "
                             "its grid25/ subfolder holds the 2-D entries)")
    parser.add_argument("--out", default="experiments/results/trilemma")
    parser.add_argument("--num", type=int, default=10_000, help="samples per image metric")
    parser.add_argument("--sample-seconds", type=float, default=None,
                        help="cap N so that drawing the samples takes about this long at the "
                             "measured images/s (slow samplers get fewer; N is in the table)")
    parser.add_argument("--min-num", type=int, default=500,
                        help="the cap of --sample-seconds never goes below this N")
    parser.add_argument("--nll-num", type=int, default=10_000, help="test images for bits/dim")
    parser.add_argument("--points-num", type=int, default=2500, help="grid25 samples")
    parser.add_argument("--no-grid25", action="store_true", help="skip the grid25 entries")
    parser.add_argument("--skip-rows", default="",
                        help="comma-separated rows not evaluated this time (e.g. ddpm_1000, "
                             "whose 1000 network evaluations per image a CPU budget may not "
                             "afford); listed under 'Not measured'")
    parser.add_argument("--curve-points", type=int, default=0,
                        help="periodic FID evaluations during training (the budget curve)")
    parser.add_argument("--curve-num", type=int, default=2000,
                        help="samples per periodic FID evaluation")
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw trilemma.md and the pictures from --out/trilemma.json")
    parser.add_argument("--list", action="store_true", help="list the entries and exit")
    return parser.parse_args(argv)


def check_args(args) -> None:
    from jaxgen.errors import ConfigError
    if args.budget_minutes <= 0:
        raise ConfigError(f"--budget-minutes must be > 0, got {args.budget_minutes:g}")
    for name in ("num", "nll_num", "points_num", "min_num", "curve_num"):
        if getattr(args, name) < 2:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 2, got "
                              f"{getattr(args, name)}")
    if args.curve_points < 0:
        raise ConfigError(f"--curve-points must be >= 0, got {args.curve_points}")
    if args.sample_seconds is not None and args.sample_seconds <= 0:
        raise ConfigError(f"--sample-seconds must be > 0, got {args.sample_seconds:g}")


def say(message: str) -> None:
    print(f"[trilemma {time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "-"


def machine_words() -> str:
    return f"{os.cpu_count()}-core {platform.machine()} CPU ({platform.node()}), shared"


def has_likelihood(entry, overrides) -> bool:
    """Whether `jaxgen eval --metrics nll` applies to the entry's config."""
    from jaxgen import registry
    from jaxgen.engine import config as config_lib
    config = config_lib.build_config(None, entry.path, overrides)
    return registry.get(config.family).kind_of_likelihood(config) is not None


def sample_count(args, images_per_sec: float) -> int:
    if args.sample_seconds is None:
        return args.num
    capped = int(images_per_sec * args.sample_seconds) // 100 * 100
    return max(min(args.min_num, args.num), min(args.num, capped))


def measure_image_row(args, row, entry, overrides, trained, first_row, log_path):
    import measure
    workdir = trained["workdir"]
    timing = ["sample_time"]
    if first_row and has_likelihood(entry, trained["overrides"]):
        timing.append("nll")  # the likelihood does not depend on the sampler: once per entry
    samples = ["fid", "pr", "classes"]
    if args.sample_seconds is None and (args.nll_num == args.num or "nll" not in timing):
        # N does not wait for the measured speed: one `jaxgen eval` call does it all.
        return measure.evaluate(workdir, timing + samples, args.num, args.seed, overrides,
                                args.out, row, "all", log_path)
    values = measure.evaluate(workdir, timing, args.nll_num, args.seed, overrides, args.out,
                              row, "timing", log_path)
    num = sample_count(args, values["images_per_sec"])
    values.update(measure.evaluate(workdir, samples, num, args.seed,
                                   overrides, args.out, row, "samples", log_path))
    return values


def pick(values: dict, prefix: str):
    """The value of the one key starting with prefix (image keys end in the extractor tag)."""
    found = [v for k, v in values.items() if k.startswith(prefix)]
    return found[0] if found else None


def image_record(row, entry, overrides, trained, values) -> dict:
    return {**base_record(row, entry, overrides, trained),
            "fid": pick(values, "fid_"), "precision": pick(values, "precision_"),
            "recall": pick(values, "recall_"), "class_kl": pick(values, "class_kl_"),
            "class_counts": pick(values, "class_counts_"), "extractor": values.get("extractor"),
            "num_samples": values.get("num_samples"),
            "images_per_sec": values.get("images_per_sec"),
            "network_evals_per_image": values.get("network_evals_per_image"),
            "sample_batch": values.get("sample_batch"), "device": values.get("device"),
            "bpd": values.get("bpd"), "bpd_stderr": values.get("bpd_stderr"),
            "likelihood_kind": values.get("likelihood_kind"),
            "nll_num_images": values.get("num_images"),
            "eval_seconds": sum(v for k, v in values.items() if k.startswith("eval_seconds")),
            "eval_step": values.get("step")}


def point_record(row, entry, overrides, trained, values) -> dict:
    return {**base_record(row, entry, overrides, trained),
            "modes_covered": values.get("modes_covered"),
            "high_quality": values.get("high_quality"), "reverse_kl": values.get("reverse_kl"),
            "num_samples": values.get("num_samples"),
            "eval_seconds": values.get("eval_seconds_modes"), "eval_step": values.get("step")}


def base_record(row, entry, overrides, trained) -> dict:
    return {"row": row, "entry": entry.key, "family": trained["family"],
            "sampler_overrides": overrides, "config_file": os.path.relpath(entry.path),
            "workdir": trained["workdir"], "steps": trained["steps"],
            "train_seconds": trained["train_seconds"],
            "stated_steps_per_sec": entry.steps_per_sec, "rate_source": entry.rate_source,
            "measured_steps_per_sec": trained["measured_steps_per_sec"],
            "reused_workdir": trained["reused"]}


def curve_points(root: str, entry_name: str) -> list[dict]:
    """FID against training minutes of one entry, from the periodic metrics rows
    (--curve-points) of every budget's workdir under root: one protocol for every
    point (the config's sampler, --curve-num samples, the run's fixed sample key)."""
    import measure
    points = []
    for workdir in sorted(glob.glob(os.path.join(root, f"{entry_name}-*min"))):
        for r in measure.metrics_rows(workdir, "metrics"):
            fid = pick(r, "fid_")
            if fid is not None and "train_seconds" in r:
                points.append({"minutes": r["train_seconds"] / 60.0, "fid": fid,
                               "step": r["step"], "num": r.get("num_samples"),
                               "workdir": workdir})
    return sorted(points, key=lambda p: p["minutes"])


def train_entry(args, entry, index, total):
    import measure
    import plan
    steps = plan.budget_steps(entry, args.budget_minutes)
    overrides = plan.train_overrides(entry, steps, args.budget_minutes, args.workdir_root,
                                     args.curve_points, args.curve_num)
    workdir = plan.workdir(args.workdir_root, entry, args.budget_minutes)
    log_path = os.path.join(args.out, "logs", f"{entry.key.replace('/', '-')}.log")
    say(f"[{index}/{total}] {entry.key}: {steps} steps (~{steps / entry.steps_per_sec / 60:.1f} "
        f"min at the stated {entry.steps_per_sec:g} steps/s) in {workdir}")
    trained = measure.train(entry.path, workdir, overrides, log_path)
    from jaxgen.engine import config as config_lib
    trained["family"] = config_lib.build_config(None, entry.path, overrides).family
    trained["overrides"] = overrides
    say(f"    {'reused' if trained['reused'] else 'trained'}: "
        f"{trained['train_seconds'] or 0:.0f} s of training")
    return trained, log_path


def row_label(row: str, entry) -> str:
    """A row's name in the tables: grid25 rows carry the prefix `grid25/`."""
    return row if entry.kind == "images" else f"grid25/{row}"


def run(args) -> dict:
    import plan
    import report
    start = time.perf_counter()
    entries = plan.all_entries(args.configs or plan.DEFAULT_CONFIGS)
    families = ([f.strip() for f in args.families.split(",") if f.strip()]
                if args.families else None)
    chosen = plan.select(entries, families, grid25=not args.no_grid25)
    command = "python experiments/trilemma/run.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    document = {"meta": {"command": command, "machine": machine_words(),
                         "load_start": load_average(), "budget_minutes": args.budget_minutes,
                         "seed": args.seed, "num": args.num,
                         "sample_seconds": args.sample_seconds,
                         "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())},
                "rows": [], "grid25": [], "failed": [], "curves": {}}
    import measure
    trained_of, first_rows, likelihood_of = {}, set(), {}
    skipped = {r.strip() for r in args.skip_rows.split(",") if r.strip()}
    unknown = skipped - {row_label(row, e) for row, e, _ in plan.rows(list(entries.values()))}
    if unknown:
        from jaxgen.errors import ConfigError
        raise ConfigError(f"--skip-rows: unknown row(s) {', '.join(sorted(unknown))}")
    for index, entry in enumerate(chosen, 1):
        try:
            trained_of[entry.key] = train_entry(args, entry, index, len(chosen))
        except Exception as err:  # one entry's failure is a line of the table, not the end
            say(f"    FAILED: {err}")
            document["failed"].append({"row": entry.key, "error": str(err)})
            continue
        if not entry.is_row:
            continue
        trained, log_path = trained_of[entry.key]
        for row, _, overrides in plan.rows([entry]):
            if row_label(row, entry) in skipped:
                document["failed"].append({"row": row_label(row, entry),
                                           "error": "skipped (--skip-rows)"})
                continue
            say(f"    evaluating {row} ...")
            try:
                if entry.kind == "images":
                    values = measure_image_row(args, row, entry, overrides, trained,
                                               entry.key not in first_rows, log_path)
                    # The likelihood is the model's, not the sampler's: every row shows it.
                    likelihood_of.setdefault(entry.key, {k: v for k, v in values.items()
                                                         if measure.belongs_to(k, ["nll"])
                                                         and k != "step"})
                    values = {**likelihood_of[entry.key], **values}
                    record = image_record(row, entry, overrides, trained, values)
                    document["rows"].append(record)
                    say(f"    {row}: FID {record['fid']:.2f}, recall {record['recall']:.3f}, "
                        f"{record['images_per_sec']:.3g} images/s (N = {record['num_samples']})")
                else:
                    values = measure.evaluate(trained["workdir"], ["modes"], args.points_num,
                                              args.seed, overrides, args.out, entry.key + "-"
                                              + row, "modes", log_path)
                    record = point_record(f"grid25/{row}", entry, overrides, trained, values)
                    document["grid25"].append(record)
                    say(f"    grid25/{row}: {record['modes_covered']} modes, high quality "
                        f"{record['high_quality']:.3f}")
            except Exception as err:
                say(f"    FAILED: {err}")
                document["failed"].append({"row": row, "error": str(err)})
            first_rows.add(entry.key)
            report.write_json(args.out, document)  # the numbers so far, as soon as they exist
    for name in report.best_entries(document["rows"]):
        document["curves"][name] = curve_points(args.workdir_root, name)
    document["meta"]["load_end"] = load_average()
    document["meta"]["wall_seconds"] = time.perf_counter() - start
    for path in report.write_all(args.out, document):
        say(f"wrote {path}")
    return document


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from jaxgen.errors import JaxgenError
    try:
        check_args(args)
        import plan
        if args.list:
            entries = plan.all_entries(args.configs or plan.DEFAULT_CONFIGS)
            for name in plan.selectable_names(entries):
                print(name)
            return 0
        if args.replot:
            import report
            path = os.path.join(args.out, report.JSON_NAME)
            if not os.path.exists(path):
                raise JaxgenError(f"--replot: {path} does not exist; run without --replot first")
            for written in report.write_all(args.out, report.read_json(args.out)):
                say(f"wrote {written}")
            return 0
        run(args)
    except JaxgenError as err:
        print(f"trilemma: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
