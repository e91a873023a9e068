"""jaxgen: generative-model families in JAX/Flax.

    import jaxgen
    run = jaxgen.load("runs/vae")           # a trained run
    images = run.sample(jax.random.key(0), 16)
"""
from jaxgen.engine.run import Run, load

__version__ = "0.1.0"

__all__ = ["load", "Run", "__version__"]
