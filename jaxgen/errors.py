"""Errors that mean "the user asked for something we cannot do".

The command line catches `JaxgenError`, prints its message on one line and
exits non-zero; anything else is a bug and keeps its traceback.
"""


class JaxgenError(Exception):
    """Base class of user-facing errors (bad input, missing data, bad checkpoint)."""


class ConfigError(JaxgenError):
    """Unknown family, unknown config key, or a value of the wrong type."""


class DatasetError(JaxgenError):
    """A dataset that is missing, unreadable or of the wrong shape."""


class CheckpointError(JaxgenError):
    """A checkpoint that is corrupt or does not match the requested run."""


class NonFiniteLossError(JaxgenError):
    """Training produced a NaN or infinite loss."""
