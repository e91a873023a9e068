"""jaxgen: generative-model families in JAX/Flax.

    import jaxgen
    run = jaxgen.load("runs/vae")           # a trained run
    images = run.sample(jax.random.key(0), 16)
"""
__version__ = "0.1.0"

__all__ = ["load", "Run", "__version__"]


def __getattr__(name):
    # `load` and `Run` import jax: only when asked for, so that `jaxgen --help`,
    # `jaxgen list` and `--version` start in a fraction of a second.
    if name in ("load", "Run"):
        from jaxgen.engine import run
        return getattr(run, name)
    raise AttributeError(f"module 'jaxgen' has no attribute {name!r}")
