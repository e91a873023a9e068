"""The `jaxgen` command line (DESIGN.md, "Command line and Python API").

    jaxgen list
    jaxgen config FAMILY [--config FILE] [--config.KEY=VALUE ...]
    jaxgen train [FAMILY] --workdir DIR [--config FILE] [--config.KEY=VALUE ...]
    jaxgen sample --workdir DIR --num N --out FILE.png|FILE.npy|FILE.txt|FILE.jsonl [--seed S]
                  [--config.KEY=VALUE ...]
    jaxgen eval --workdir DIR [--metrics a,b,...] [--num N] [--seed S] [--config.KEY=VALUE ...]
    jaxgen bench FAMILY [--steps N] [--batch-size B] [--config.KEY=VALUE ...]

User errors (bad config, missing data, bad checkpoint, a file that cannot
be written) print one line to stderr and exit with status 2; nothing in the
workdir is overwritten. Only the commands that compute import jax: `--help`,
`--version`, `list` and `config` start in a fraction of a second.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from jaxgen import __version__
from jaxgen.errors import JaxgenError

EXIT_USER_ERROR = 2
STEP_HELP = "checkpoint step to load (default: the latest; a run keeps its last max_to_keep)"


def _split_config_overrides(argv):
    """Pull `--config.KEY=VALUE` (or `--config.KEY VALUE`) out of argv."""
    rest, overrides = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            item = arg[len("--config."):]
            if "=" not in item:
                if i + 1 >= len(argv):
                    raise JaxgenError(f"{arg} needs a value: {arg}=VALUE")
                item, i = f"{item}={argv[i + 1]}", i + 1
            overrides.append(item)
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxgen", description="Generative-model families in JAX/Flax.",
        epilog="Any config key can be overridden with --config.KEY=VALUE.")
    parser.add_argument("--version", action="version", version=f"jaxgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the families, their descriptions and CPU notes")

    show = sub.add_parser("config", help="print a family's config: every key and its value")
    show.add_argument("family", nargs="?", help="family name (or set `family` in --config)")
    show.add_argument("--config", dest="config_file", help="ml_collections get_config() file")

    train = sub.add_parser(
        "train", help="train (or resume) a run",
        epilog="`jaxgen train FAMILY --help` also lists the family's config keys and defaults "
               "(the same as `jaxgen config FAMILY`).")
    train.add_argument("family", nargs="?", help="family name (or set `family` in --config)")
    train.add_argument("--workdir", required=True)
    train.add_argument("--config", dest="config_file", help="ml_collections get_config() file")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--distributed", action="store_true",
                       help="one process of a multi-process run: jax.distributed.initialize() "
                            "first; with no --coordinator, the cluster environment (SLURM, "
                            "Open MPI, TPU pods, ...) says who is who")
    train.add_argument("--coordinator", metavar="HOST:PORT", default=None,
                       help="with --distributed: the address process 0 listens on (the same "
                            "for every process)")
    train.add_argument("--num-processes", type=int, default=None, metavar="N",
                       help="with --distributed --coordinator: how many processes the run has")
    train.add_argument("--process-id", type=int, default=None, metavar="I",
                       help="with --distributed --coordinator: this process's index, 0..N-1")
    train.add_argument("--heartbeat-timeout", type=int, default=None, metavar="SECONDS",
                       help="with --distributed: a process silent this long counts as dead "
                            "and the others stop (default 100)")

    sample = sub.add_parser("sample", help="draw samples from a trained run")
    sample.add_argument("--workdir", required=True)
    sample.add_argument("--num", type=int, default=64)
    sample.add_argument("--out", required=True,
                        help="FILE.png (a grid) or FILE.npy (floats; token ids of text runs); "
                             "text runs: FILE.txt or FILE.jsonl")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--cond", type=int, default=None, help="class label, if conditional")
    sample.add_argument("--step", type=int, default=None, help=STEP_HELP)

    evaluate = sub.add_parser("eval", help="evaluate a trained run; writes WORKDIR/eval.json")
    evaluate.add_argument("--workdir", required=True)
    evaluate.add_argument("--metrics", default=None,
                          help="comma-separated: nll (alias bpd), sample_time, fid, kid, is, pr, "
                               "classes, modes, and the family's own; default: the family's own "
                               "but pictures, with nll and sample_time")
    evaluate.add_argument("--num", type=int, default=10_000, help="test images / samples used")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--step", type=int, default=None,
                          help=STEP_HELP + "; results go to WORKDIR/eval_step_STEP.json")
    evaluate.add_argument("--extractor", default=None, metavar="WORKDIR",
                          help="image metrics with the features of this classifier run "
                               "(default: the shipped Fashion-MNIST CNN, FID-FMNIST)")

    bench = sub.add_parser("bench", help="train-step throughput of a family (examples/s)")
    bench.add_argument("family")
    bench.add_argument("--steps", type=int, default=50)
    bench.add_argument("--batch-size", type=int, default=None)
    return parser


def cmd_list(args, overrides) -> None:
    from jaxgen import registry
    for entry in registry.read_index():
        print(f"{entry['name']:14s} {entry['description']}")
        if entry["cpu_note"]:
            print(f"{'':15s}{entry['cpu_note']}")


def config_lines(config) -> list[str]:
    """`key = value` for every key of a config, sorted."""
    from jaxgen.engine import config as config_lib
    flat = config_lib.flatten(config.to_dict())
    width = max(len(k) for k in flat)
    return [f"{key:<{width}} = {value!r}" for key, value in sorted(flat.items())]


def cmd_config(args, overrides) -> None:
    from jaxgen.engine import config as config_lib
    config = config_lib.build_config(args.family, args.config_file,
                                     config_lib.parse_overrides(overrides))
    print("\n".join(config_lines(config)))


def print_train_help(family: str) -> None:
    from jaxgen import registry
    from jaxgen.engine import config as config_lib
    _subparser(_parser(), "train").print_help()
    found = registry.get(family)
    print(f"\nconfig of {found.name} (--config.KEY=VALUE; defaults shown):")
    print("  " + "\n  ".join(config_lines(config_lib.build_config(found.name))))
    if found.cpu_note:
        print(f"\non a CPU: {found.cpu_note}")


def _subparser(parser, name):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def cmd_train(args, overrides) -> None:
    from jaxgen.engine import distributed
    distributed.check_flags(args.distributed, args.coordinator, args.num_processes,
                            args.process_id, args.heartbeat_timeout)  # before jax loads
    from jaxgen.engine import config as config_lib
    from jaxgen.engine.loop import train_run

    if args.distributed:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                               args.heartbeat_timeout)
        print(distributed.describe(args.heartbeat_timeout), file=sys.stderr, flush=True)
    config = config_lib.build_config(args.family, args.config_file,
                                     config_lib.parse_overrides(overrides))
    state, summary = train_run(config, args.workdir, progress=not args.no_progress)
    from jaxgen import registry
    from jaxgen import data
    final = os.path.join(args.workdir, "samples",
                         "final.txt" if data.kind(config) == "tokens" else "final.png")
    where = (f"; samples in {final}"
             if registry.get(config.family).sample is not None and os.path.exists(final) else "")
    if distributed.is_primary():  # one summary line per run, not per process
        print(f"{summary}{where}")


def _writable_output(path: str) -> None:
    """Refuse an --out that cannot be written before any sampling time is spent."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)  # an OSError here is one line (main)
    if not os.access(folder, os.W_OK):
        raise JaxgenError(f"--out {path}: the folder {folder} is not writable")
    if os.path.isdir(path):
        raise JaxgenError(f"--out {path} is a folder; give a file name ending in .png or .npy")


def cmd_sample(args, overrides) -> None:
    import jax
    import numpy as np

    import jaxgen
    from jaxgen import data
    from jaxgen.data import text as text_data
    from jaxgen.engine.config import parse_overrides
    from jaxgen.engine.images import save_image_grid

    from jaxgen.engine.config import check_seed
    from jaxgen.engine.workdir import write_atomically

    if args.num < 1:
        raise JaxgenError(f"--num must be >= 1, got {args.num}")
    check_seed(args.seed)
    extension = os.path.splitext(args.out)[1].lower()
    if extension not in (".png", ".npy", ".txt", ".jsonl"):
        raise JaxgenError(f"--out must end in .png or .npy (images, points), .txt or .jsonl "
                          f"(text), got {args.out!r}")
    _writable_output(args.out)
    run = jaxgen.load(args.workdir, parse_overrides(overrides), step=args.step)
    is_text = data.kind(run.config) == "tokens"
    if is_text and extension == ".png":
        raise JaxgenError(f"a {run.config.family} run samples text: --out FILE.txt, "
                          f"FILE.jsonl or FILE.npy (token ids), got {args.out!r}")
    if not is_text and extension in (".txt", ".jsonl"):
        raise JaxgenError(f"a {run.config.family} run does not sample text: --out FILE.png "
                          f"or FILE.npy, got {args.out!r}")
    samples = np.asarray(jax.device_get(run.sample(jax.random.key(args.seed), args.num,
                                                   cond=args.cond)))
    if extension in (".txt", ".jsonl"):
        text_data.write_samples(args.out, text_data.decode_samples(run.config, samples))
    elif extension == ".npy":
        import io
        buffer = io.BytesIO()
        np.save(buffer, samples)
        write_atomically(args.out, buffer.getvalue())
    elif samples.ndim == 4:
        save_image_grid(args.out, samples)
    else:
        from jaxgen.engine.images import save_points
        save_points(args.out, samples)
    print(f"wrote {args.num} samples of {run.config.family} (step {run.step}) to {args.out}")


def load_extractor_run(workdir: str):
    """`--extractor WORKDIR`: the image-metric extractor of a trained classifier run."""
    import jaxgen
    from jaxgen import data
    from jaxgen.metrics.extractor import extractor_from_classifier

    run = jaxgen.load(workdir)
    if run.config.family != "classifier":
        raise JaxgenError(f"--extractor {workdir} holds a {run.config.family!r} run; it must "
                          "be a `classifier` run (jaxgen train classifier ...)")
    return extractor_from_classifier(run.config, run.state.params,
                                     data.image_shape(run.config), source=workdir)


def cmd_eval(args, overrides) -> None:
    import jax

    import jaxgen
    from jaxgen.engine.config import parse_overrides
    from jaxgen.metrics import evaluations

    from jaxgen.engine.config import check_seed
    from jaxgen.engine.workdir import write_atomically

    if args.num < 1:
        raise JaxgenError(f"--num must be >= 1, got {args.num}")
    check_seed(args.seed)
    run = jaxgen.load(args.workdir, parse_overrides(overrides), step=args.step)
    requested = ([m.strip() for m in args.metrics.split(",") if m.strip()]
                 if args.metrics else None)
    names = evaluations.resolve(run, requested)
    extractor = load_extractor_run(args.extractor) if args.extractor else None
    results = evaluations.evaluate(run, names, jax.random.key(args.seed), args.num, extractor,
                                   log=lambda message: print(message, file=sys.stderr))
    results["step"] = run.step
    _print_table(results)
    # An older checkpoint's results get a file of their own: eval.json stays the latest's.
    path = os.path.join(args.workdir, "eval.json" if args.step is None
                        else f"eval_step_{args.step}.json")
    merged = {}
    earlier = _read_earlier_results(path)
    if earlier.get("step") == run.step:  # keep metrics computed earlier, unless of another step
        merged = earlier
    merged.update(results)
    write_atomically(path, json.dumps(merged, indent=2))
    print(f"wrote {path}")


def _read_earlier_results(path: str) -> dict:
    from jaxgen.engine.workdir import read_text
    if not os.path.lexists(path):
        return {}
    try:
        earlier = json.loads(read_text(path))
    except ValueError:
        print(f"jaxgen: warning: {path} was unreadable; it is replaced", file=sys.stderr)
        return {}
    return earlier if isinstance(earlier, dict) else {}


def _print_table(results: dict) -> None:
    width = max(len(k) for k in results)
    for name, value in results.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{name:<{width}}  {shown}")


def cmd_bench(args, overrides) -> None:
    from jaxgen.engine import config as config_lib
    from jaxgen.engine.bench import train_step_throughput

    config = config_lib.build_config(args.family, None, config_lib.parse_overrides(overrides))
    if args.batch_size:
        config.batch_size = args.batch_size
    rate = train_step_throughput(config, steps=args.steps)
    print(f"{config.family}: {rate:.1f} examples/s (batch {config.batch_size}, "
          f"{args.steps} steps after compilation)")


COMMANDS = {"list": cmd_list, "config": cmd_config, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
            "bench": cmd_bench}


def _wants_train_help(rest) -> str | None:
    """The family of `jaxgen train FAMILY --help`, if that is what was asked."""
    if len(rest) >= 2 and rest[0] == "train" and ("--help" in rest or "-h" in rest):
        named = [a for a in rest[1:] if not a.startswith("-")]
        return named[0] if named else None
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rest, overrides = _split_config_overrides(argv)
        family_help = _wants_train_help(rest)
        if family_help:
            print_train_help(family_help)
            return 0
        args = _parser().parse_args(rest)
        if overrides and args.command == "list":
            raise JaxgenError("`jaxgen list` takes no --config overrides")
        COMMANDS[args.command](args, overrides)
    except JaxgenError as err:
        print(f"jaxgen: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # `jaxgen list | head`: the reader left, which is not an error of anyone's.
        # Point stdout at /dev/null so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as err:  # unwritable or missing paths, a full disk, links refused
        print(f"jaxgen: error: {_describe_os_error(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:
        # The loop has saved a checkpoint and said so; 128 + the signal's number.
        signum = getattr(interrupt, "signum", 2)
        print(f"jaxgen: {'interrupted' if signum == 2 else 'terminated'}", file=sys.stderr)
        return 128 + signum
    return 0


def _describe_os_error(err: OSError) -> str:
    import errno
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    if err.errno == errno.ENOSPC:
        return f"the disk is full{where}; free space and run the same command again"
    if err.errno == errno.ELOOP:
        return f"a symbolic link is in the way{where}; jaxgen does not write through links"
    return f"{err.strerror or err}{where}"


if __name__ == "__main__":
    sys.exit(main())
