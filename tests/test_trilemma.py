"""experiments/trilemma/: the plan's arithmetic, the shipped configs, and one tiny end-to-end
run whose table must agree with `jaxgen eval` on the same workdir."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import run_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRILEMMA = os.path.join(ROOT, "experiments", "trilemma")
sys.path.insert(0, TRILEMMA)

import plan  # noqa: E402
import report  # noqa: E402
from measure import belongs_to  # noqa: E402

from jaxgen.errors import ConfigError  # noqa: E402

# Families that do not sample images from noise: no row of the trilemma.
NOT_IMAGE_SAMPLERS = {"classifier", "dann", "cyclegan", "pix2pix", "textgen"}


# ----------------------------------------------------------------- the plan (no training)


def _entry(**changes):
    values = dict(name="x", kind="images", path="/nowhere/x.py", steps_per_sec=2.0,
                  rate_source="", schedule={}, variants={"x": {}}, depends={},
                  budget_share=1.0, is_row=True)
    values.update(changes)
    return plan.Entry(**values)


def test_budget_steps_is_minutes_times_the_stated_rate():
    assert plan.budget_steps(_entry(steps_per_sec=2.5), 4) == 600
    assert plan.budget_steps(_entry(steps_per_sec=2.5, budget_share=0.5), 4) == 300
    assert plan.budget_steps(_entry(steps_per_sec=0.01), 0.01) == plan.MIN_STEPS


def test_train_overrides_scale_schedules_and_name_the_stage_workdir(tmp_path):
    entry = _entry(schedule={"optim.decay_steps": 1.0, "kl_warmup_steps": 0.25},
                   depends={"vq_workdir": "stage1"})
    out = plan.train_overrides(entry, 400, 3, str(tmp_path), curve_points=4, curve_num=50)
    assert out["steps"] == "400" and out["optim.decay_steps"] == "400"
    assert out["kl_warmup_steps"] == "100"
    assert out["vq_workdir"] == os.path.join(str(tmp_path), "stage1-3min")
    assert (out["metrics_every"], out["metrics"], out["metrics_num"]) == ("100", "fid", "50")
    assert "metrics_every" not in plan.train_overrides(entry, 400, 3, str(tmp_path))


def test_select_puts_stages_first_and_refuses_unknown_names():
    entries = plan.all_entries()
    chosen = [e.key for e in plan.select(entries, ["vqvae", "gan"])]
    assert chosen.index("vqvae_stage1") < chosen.index("vqvae")
    assert "grid25/gan" in chosen and "gan" in chosen
    assert "grid25/gan" not in [e.key for e in plan.select(entries, ["gan"], grid25=False)]
    with pytest.raises(ConfigError, match="unknown family 'nope'"):
        plan.select(entries, ["nope"])
    with pytest.raises(ConfigError):  # a stage is not a row to ask for
        plan.select(entries, ["vqvae_stage1"])


def test_every_image_sampling_family_has_an_entry_and_every_config_builds():
    from jaxgen import registry
    from jaxgen.engine import config as config_lib
    entries = plan.all_entries()
    families = {}
    for entry in entries.values():
        config = config_lib.build_config(None, entry.path)
        families.setdefault(entry.kind, set()).add(config.family)
        if entry.kind == "grid25":
            assert config.dataset == "grid25", entry.key
    missing = set(registry.names()) - NOT_IMAGE_SAMPLERS - families["images"]
    assert not missing, f"registered image families without a trilemma config: {missing}"
    assert {"ddpm_1000", "ddpm_50", "ddim_50", "ddim_10"} <= set(entries["ddpm"].variants)


def test_keys_of_a_call_are_the_keys_of_its_metrics():
    assert belongs_to("fid_fmnist", ["fid"]) and not belongs_to("fid_fmnist", ["pr"])
    assert belongs_to("bpd_stderr", ["nll"]) and not belongs_to("bpd", ["sample_time"])
    assert belongs_to("num_samples", ["classes"]) and not belongs_to("num_samples", ["nll"])


def test_sample_count_caps_slow_samplers_only():
    import run
    args = run.parse_args(["--num", "10000", "--sample-seconds", "60", "--min-num", "500"])
    assert run.sample_count(args, 1000.0) == 10000
    assert run.sample_count(args, 20.0) == 1200
    assert run.sample_count(args, 0.5) == 500
    assert run.sample_count(run.parse_args([]), 0.5) == 10000


def test_best_entries_rank_by_lowest_fid():
    rows = [{"entry": "a", "fid": 30.0}, {"entry": "b", "fid": 10.0},
            {"entry": "a", "fid": 5.0}, {"entry": "c", "fid": None}, {"entry": "d", "fid": 20.0}]
    assert report.best_entries(rows, 2) == ["a", "b"]


def test_budget_curve_reads_the_metrics_rows_of_every_budget(tmp_path):
    import run
    for minutes, rows in (("5", [(100, 60.0, 40.0), (200, 120.0, 30.0)]),
                          ("15", [(600, 900.0, 12.5)])):
        workdir = tmp_path / f"vae-{minutes}min"
        workdir.mkdir()
        lines = [{"step": step, "split": "metrics", "fid_fmnist": fid, "num_samples": 50,
                  "train_seconds": seconds} for step, seconds, fid in rows]
        lines.insert(1, {"step": 150, "split": "train", "loss": 1.0, "train_seconds": 90.0})
        (workdir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    (tmp_path / "vaegan-5min").mkdir()  # another entry's workdir: not on this curve
    points = run.curve_points(str(tmp_path), "vae")
    assert [(p["minutes"], p["fid"], p["step"]) for p in points] == [
        (1.0, 40.0, 100), (2.0, 30.0, 200), (15.0, 12.5, 600)]
    document = {"meta": {"budget_minutes": 5}, "curves": {"vae": points}}
    assert os.path.getsize(report.write_curve(str(tmp_path), document)) > 0


# ----------------------------------------------------------------- the command


def _trilemma(*args, check=True):
    result = subprocess.run([sys.executable, os.path.join(TRILEMMA, "run.py"), *args],
                            capture_output=True, text=True, env=dict(os.environ))
    if check and result.returncode != 0:
        raise AssertionError(f"run.py {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.parametrize("args, message", [
    (["--families", "nope"], "unknown family 'nope'"),
    (["--budget-minutes", "0"], "--budget-minutes must be > 0"),
    (["--num", "1"], "--num must be >= 2"),
    (["--budget-minutes", "x"], "invalid float value"),
    (["--skip-rows", "nope"], "--skip-rows: unknown row(s) nope"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = _trilemma(*args, "--out", str(tmp_path / "out"), "--workdir-root",
                       str(tmp_path / "runs"), check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "out").exists()


def test_replot_without_a_table_is_one_line(tmp_path):
    result = _trilemma("--replot", "--out", str(tmp_path), check=False)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


TINY_GAN = """
    import ml_collections
    STEPS_PER_SEC = 2.0
    RATE_SOURCE = "test"
    VARIANTS = {VARIANTS}
    def get_config():
        c = ml_collections.ConfigDict()
        c.family = "gan"
        c.dataset = "{DATASET}"
        c.batch_size = 8
        c.g_hidden = (16, 16)
        c.d_hidden = (16, 16)
        c.latent_dim = 2
        c.ema_decay = 0.9
        c.num_grid = 4
        c.eval_batches = 1
        return c
"""


def _tiny_configs(folder):
    (folder / "grid25").mkdir(parents=True)
    two_samplers = '{"gan_raw": {"sample_from": "raw"}, "gan_ema": {"sample_from": "ema"}}'
    (folder / "gan.py").write_text(textwrap.dedent(
        TINY_GAN.replace("{VARIANTS}", two_samplers).replace("{DATASET}", "fashion_mnist")))
    (folder / "grid25" / "gan.py").write_text(textwrap.dedent(
        TINY_GAN.replace("{VARIANTS}", "None").replace("{DATASET}", "grid25")))


def test_tiny_run_agrees_with_jaxgen_eval_and_reuses_its_workdirs(tmp_path):
    configs, runs, out = tmp_path / "configs", tmp_path / "runs", tmp_path / "out"
    _tiny_configs(configs)
    args = ["--configs", str(configs), "--budget-minutes", "0.05", "--num", "60",
            "--points-num", "50", "--workdir-root", str(runs), "--out", str(out)]
    first = _trilemma(*args)
    assert "[1/2] gan: 6 steps" in first.stdout and "[2/2] grid25/gan" in first.stdout
    document = json.loads((out / "trilemma.json").read_text())
    rows = {r["row"]: r for r in document["rows"]}
    assert set(rows) == {"gan_raw", "gan_ema"} and not document["failed"]
    workdir = rows["gan_ema"]["workdir"]
    assert rows["gan_raw"]["workdir"] == workdir  # two samplers, one trained workdir
    assert rows["gan_ema"]["steps"] == 6 and rows["gan_ema"]["train_seconds"] > 0

    # A row holds what `jaxgen eval` reports for that workdir and sampler.
    run_cli("eval", "--workdir", workdir, "--metrics", "fid,pr,classes", "--num", "60",
            "--config.sample_from=ema")
    reported = json.loads(open(os.path.join(workdir, "eval.json")).read())
    row = rows["gan_ema"]
    assert row["fid"] == reported["fid_fmnist"]
    assert (row["precision"], row["recall"]) == (reported["precision_fmnist"],
                                                 reported["recall_fmnist"])
    assert row["class_counts"] == reported["class_counts_fmnist"]
    assert row["num_samples"] == reported["num_samples"] == 60
    assert rows["gan_raw"]["network_evals_per_image"] == 1.0
    assert rows["gan_raw"]["fid"] != rows["gan_ema"]["fid"]  # the raw row is its own sampler

    (point,) = document["grid25"]
    assert point["row"] == "grid25/gan" and 0 <= point["modes_covered"] <= 25
    assert 0.0 <= point["high_quality"] <= 1.0 and point["num_samples"] == 50
    for name in (report.MD_NAME, report.PICTURE_NAME, report.CURVE_NAME):
        assert (out / name).stat().st_size > 0
    markdown = (out / report.MD_NAME).read_text()
    assert "| gan_ema | gan | 6 | 2 |" in markdown and "| grid25/gan | gan | 6 | 2 |" in markdown

    # A rerun trains nothing and evaluates nothing: the same numbers come back.
    second = _trilemma(*args)
    assert second.stdout.count("reused:") == 2 and "trained:" not in second.stdout
    again = json.loads((out / "trilemma.json").read_text())
    assert [r["fid"] for r in again["rows"]] == [r["fid"] for r in document["rows"]]
    assert all(r["reused_workdir"] for r in again["rows"] + again["grid25"])
    markdown = (out / report.MD_NAME).read_text()

    # The pictures and the table come back from the JSON alone.
    (out / report.PICTURE_NAME).unlink()
    (out / report.MD_NAME).unlink()
    _trilemma("--replot", "--out", str(out))
    assert (out / report.PICTURE_NAME).exists() and (out / report.MD_NAME).read_text() == markdown
