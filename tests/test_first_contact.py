"""What a new user meets first (issue 16): a fast command line that explains
itself, a quick start that says what it is doing, refusals before work, and
a source distribution whose tests run."""
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from jaxgen import cli, registry
from jaxgen.engine import config as config_lib
from jaxgen.engine import loop
from jaxgen.engine.logging import Progress
from jaxgen.engine.loop import _Window, train

from tiny_configs import tiny_overrides

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("fc") / "run")
    train(config_lib.build_config("vae", overrides=tiny_overrides("vae")), workdir,
          progress=False)
    return workdir


def test_the_family_index_equals_the_registry():
    assert registry.read_index() == registry.listing(), \
        "jaxgen/families.json is stale: run `python -m jaxgen.registry`"
    assert all(entry["cpu_note"] for entry in registry.listing()), "every family has a cpu_note"


@pytest.mark.parametrize("args", [["--help"], ["list"], ["--version"]])
def test_help_list_and_version_do_not_import_jax(args):
    code = ("import sys; from jaxgen import cli\n"
            "try:\n    code = cli.main(%r)\nexcept SystemExit as e:\n    code = e.code\n"
            "assert code == 0, code\nassert 'jax' not in sys.modules, 'jax was imported'\n"
            % (args,))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if args == ["list"]:
        assert "ddpm" in result.stdout and "experiments/" in result.stdout  # the CPU notes
    if args == ["--version"]:
        assert result.stdout.strip().startswith("jaxgen 0.")



def test_a_reader_that_leaves_early_is_not_an_error():
    # `jaxgen list | head -1`: made deterministic by closing the pipe's read end
    # before the command writes anything, so its first write already fails.
    read_end, write_end = os.pipe()
    os.close(read_end)
    result = subprocess.run([sys.executable, "-m", "jaxgen.cli", "list"], stdout=write_end,
                            stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert result.returncode == 141, result.stderr  # 128 + SIGPIPE, as a shell reports it
    assert result.stderr == ""

def test_config_command_and_train_help_show_the_keys(capsys):
    assert cli.main(["config", "vae", "--config.latent_dim=3"]) == 0
    out = capsys.readouterr().out
    assert "latent_dim" in out and "= 3" in out.split("latent_dim", 1)[1].splitlines()[0]
    assert "optim.learning_rate" in out
    assert cli.main(["train", "vae", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--workdir" in out and "config of vae" in out
    assert "enc_channels" in out and "(32, 64, 128)" in out
    assert cli.main(["config", "nope"]) == 2


def test_gan_progress_shows_its_losses():
    window = _Window()
    window.add({"d_loss": np.array([0.5, 0.7]), "g_loss": np.array([1.5, 1.25]),
                "d_real": np.array([0.1, 0.2])}, count=2)
    assert window.last_losses == {"d_loss": 0.7, "g_loss": 1.25}
    bar = Progress(total=10, initial=0, enabled=True)
    bar.update(2, window.last_losses)
    assert bar._bar.postfix.startswith("d_loss=0.7, g_loss=1.25")
    bar.close()


def test_modes_on_an_image_run_is_refused_before_sampling(trained, capsys, monkeypatch):
    from jaxgen.metrics import evaluations

    def no_work(*args, **kwargs):
        raise AssertionError("sampled before refusing")

    monkeypatch.setattr(evaluations, "evaluate", no_work)
    assert cli.main(["eval", "--workdir", trained, "--metrics", "elbo,modes"]) == 2
    assert "modes (needs a run on" in capsys.readouterr().err


def test_cond_on_an_unconditional_run_is_refused(trained, tmp_path, capsys):
    out = str(tmp_path / "s.png")
    assert cli.main(["sample", "--workdir", trained, "--out", out, "--cond", "3"]) == 2
    assert "unconditional" in capsys.readouterr().err and not os.path.exists(out)


def test_the_final_grid_is_sampled_once_and_the_run_says_what_it_does(tmp_path, capfd,
                                                                      monkeypatch):
    drawn = []
    real = loop.save_image_grid
    monkeypatch.setattr(loop, "save_image_grid", lambda path, images: drawn.append(path)
                        or real(path, images))
    workdir = str(tmp_path / "run")
    train(config_lib.build_config("vae", overrides=tiny_overrides("vae")), workdir,
          progress=False)
    assert [os.path.basename(p) for p in drawn] == ["step_0000002.png"]  # sample_every=2
    samples = os.path.join(workdir, "samples")
    with open(os.path.join(samples, "final.png"), "rb") as a, \
            open(os.path.join(samples, "step_0000002.png"), "rb") as b:
        assert a.read() == b.read()
    err = capfd.readouterr().err
    assert "preparing the data" in err and "compiling the train step" in err


def test_local_preparation_hides_tfds_download_message(capfd):
    from jaxgen.data import fashion_mnist

    class Builder:
        name, VERSION = "fake", "1.0.0"

        def download_and_prepare(self):
            print("Downloading and preparing dataset Unknown size (download: Unknown size)")

    fashion_mnist._prepare_quietly(Builder(), "/nonexistent/data", "/usr/share/x", False)
    out, err = capfd.readouterr()
    assert "Downloading" not in out + err
    assert "converting Fashion-MNIST from /usr/share/x" in err


def test_readme_quick_start_uses_a_venv_and_ci_runs_the_readme_test_command():
    readme = open(os.path.join(ROOT, "README.md")).read()
    first = readme.split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert "python3 -m venv .venv && . .venv/bin/activate" in first
    assert "experiments/quickstart/vae.py" in first
    assert os.path.exists(os.path.join(ROOT, "experiments", "quickstart", "vae.py"))
    assert "python3 -m pytest -q -n 2 tests" in readme
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert "python3 -m venv .venv" in ci and "python3 -m pytest -q -n 2 tests" in ci
    assert "../shared" not in readme and os.path.exists(os.path.join(ROOT, "docs",
                                                                     "architecture.md"))


def test_the_sdist_holds_the_test_helpers_and_the_license(tmp_path):
    # setup.cfg only (no setup.py): setuptools' own setup() reads it.
    result = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
                             "sdist", "-d", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    (archive,) = [p for p in os.listdir(tmp_path) if p.endswith(".tar.gz")]
    with tarfile.open(tmp_path / archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in ("LICENSE", "tests/conftest.py", "tests/engine_worker.py",
                   "tests/tiny_configs.py", "tests/fake_datasets.py", "jaxgen/families.json",
                   "docs/architecture.md", "experiments/quickstart/vae.py"):
        assert needed in names, needed
    assert any(name.startswith("tests/data/") for name in names)
