"""`python -m vrft.bench`: vrft's GRPO training against TRL's GRPOTrainer on the same work, on this machine.

Both sides train the same locally built ~15 M-parameter Qwen2-VL (`vrft.models.tiny.SMALL`) on the same synthetic
detection images and prompts (served in the same order), with the same rewards, G, prompts per step, beta, learning
rate and a completion length forced equal on both sides (min_new_tokens = max_new_tokens), for the same number of
measured steps after a warm-up. Each side runs in its own child process, one after the other, so that each one's
peak resident memory (`ru_maxrss`) is its own. Left out: GPUs, vLLM, multi-process runs, other model families.
"""
