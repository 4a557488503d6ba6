"""Checkpoint contents (`state`), the Lightning callback that writes and restores them (`callbacks`), and the
start-up check of the run folder (`output`). The on-disk layout and atomic writes are `vrft.checkpoint`.
Kept free of heavy imports: `output` is loaded by Hydra before anything else."""
