"""Checkpoints: the on-disk layout with atomic writes and which one to resume (`layout`), what a checkpoint holds
(`state`), and the Lightning callback that writes and restores them (`callbacks`). Left out: the run folder's
start-up check (vrft.runtime.run_folder)."""
