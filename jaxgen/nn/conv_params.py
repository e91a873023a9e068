"""The parameters of flax's `nn.Conv` / `nn.ConvTranspose`, for drop-in
replacements that compute the same function another way (CPU-fast forms)."""
from __future__ import annotations

from typing import Any

import flax.linen as nn


class SameConvParams(nn.Module):
    """Fields and parameters shared by the 'SAME'-padded conv replacements:
    kernel [k, k, C_in, features] and bias [features], named as in flax, so
    checkpoints and initialisation are interchangeable with flax's layers."""

    features: int
    kernel_size: int = 3
    stride: int = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    # The compute dtype (jaxgen.nn.precision): the input is cast to it and the
    # kernel follows the input; None computes in the input's dtype.
    dtype: Any = None

    def kernel_and_bias(self, in_features: int):
        """Create (or fetch) the parameters; call from a compact `__call__`."""
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, in_features, self.features))
        bias = self.param("bias", self.bias_init, (self.features,)) if self.use_bias else None
        return kernel, bias

    def compute_input(self, x):
        """x cast to the compute dtype (as it is for dtype None)."""
        return x if self.dtype is None else x.astype(self.dtype)
