"""Rollout: how tokens are produced. The generation engines behind one protocol (`engines`: `hf`, transformers with
a shared prefill and a lean CPU decode path, and `vllm`, colocated vLLM on a GPU), the sampling settings and logits
processors (`spec`, `sampling`), the shared prefill (`prefill`), the decode loop and its draws (`decode`, `draw`,
`lean_step`), and the log-prob passes over a rollout (`logps`). Every fast path is a switch of the `rollout` config
group, which `spec.RolloutSpec` carries.

This package's `__init__` and `spec` import nothing heavy: the config schema reads `spec` before the entry point has
pinned the CPU kernels (vrft.runtime). Left out: what is done with a rollout (rewards, advantages, losses: vrft.grpo).
"""
