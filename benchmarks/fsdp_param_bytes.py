"""Per-device parameter bytes under fsdp, for the default config of a few families.

No training and no devices needed: the state's shapes come from tracing
`init` (jax.eval_shape), and engine.sharding.shard_axis says which arrays an
fsdp axis of each size splits. Device 0's share is the split arrays' bytes
divided by fsdp plus the replicated rest, as tests/test_scale.py checks on 8
forced CPU devices.

    python benchmarks/fsdp_param_bytes.py [FAMILY ...]
"""
from __future__ import annotations

import functools
import sys

import jax

from jaxgen import data, registry
from jaxgen.engine import config as config_lib
from jaxgen.engine import sharding
from jaxgen.engine.keys import run_keys

SIZES = (2, 4, 8)


def param_shapes(family_name: str):
    config = config_lib.build_config(family_name)
    family = registry.get(family_name)
    batch = data.spec(config).batch_shapes(config.batch_size)
    state = jax.eval_shape(functools.partial(family.init, config), run_keys(config.seed).init,
                           batch)
    return [leaf for leaf in jax.tree.leaves(state.params)]


def device_share(leaves, fsdp: int) -> tuple[int, int]:
    """(bytes on one device, bytes of the arrays fsdp splits)."""
    split = sum(l.size * l.dtype.itemsize for l in leaves
                if sharding.shard_axis(l.shape, fsdp) is not None)
    total = sum(l.size * l.dtype.itemsize for l in leaves)
    return split // fsdp + total - split, split


def main(names) -> None:
    print("family  params  MB  " + "  ".join(f"fsdp={k}: MB/device (bytes replicated)"
                                             for k in SIZES))
    for name in names:
        leaves = param_shapes(name)
        total = sum(l.size * l.dtype.itemsize for l in leaves)
        cells = []
        for k in SIZES:
            per_device, split = device_share(leaves, k)
            cells.append(f"{per_device / 1e6:.3f} ({total - split})")
        print(f"{name}  {sum(l.size for l in leaves)}  {total / 1e6:.3f}  " + "  ".join(cells))


if __name__ == "__main__":
    main(sys.argv[1:] or ["vae", "dcgan", "ddpm"])
