"""The experiments/ config a trilemma config starts from (read, never copied).

Each trilemma config is an ordinary jaxgen config file (`jaxgen train --config
experiments/trilemma/configs/gan.py` works) whose module also says how fast its
step runs on this machine (STEPS_PER_SEC, with where that rate comes from), so
experiments/trilemma/run.py can turn a budget in minutes into a fixed step
count. The optional module-level names run.py reads:

    STEPS_PER_SEC   steps per second of this config's train step on the 2-core CPU
    RATE_SOURCE     where that rate was measured (or that it is an estimate)
    SCHEDULE        config key -> fraction of the step count it is set to (a cosine
                    decay over the run: 1.0; a KL warm-up over its first part)
    VARIANTS        row name -> config overrides evaluated on the one trained workdir
                    (the diffusion samplers); default: one row named after the file
    DEPENDS         config key -> entry whose trained workdir the key must name
                    (a latent model's VAE, a VQ-VAE prior's stage 1)
    BUDGET_SHARE    fraction of the budget this entry's training gets (two stages: 0.5)
    ROW             False for a stage that is trained but not a row of the table
"""
import importlib.util
import os

EXPERIMENTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def starting_point(relative_path: str):
    """get_config() of experiments/RELATIVE_PATH."""
    path = os.path.join(EXPERIMENTS, relative_path)
    name = "_trilemma_start_" + relative_path.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()
