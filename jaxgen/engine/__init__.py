"""The training engine: state, loop, sharding, checkpoints, logging."""
