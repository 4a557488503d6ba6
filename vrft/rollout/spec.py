"""The settings of a rollout, as the `rollout` config group spells them: sampling, engine and fast-path switches.

Plain dataclasses (no torch), read by the config schema (vrft.config) and by the engines, so each name and default
has one home; every result-changing value is written out in conf/rollout/*.yaml with its source. Left out: building
an engine (vrft.rollout.engines) and the token ids it needs (vrft.rollout.sampling.Tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplingSpec:
    """How completions are drawn. Every value is passed to generation explicitly: nothing is inherited from a
    checkpoint's generation_config (Qwen2-VL's is near-greedy)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 50
    max_new_tokens: int = 256
    do_sample: bool = True  # False: greedy (evaluation)
    min_new_tokens: int = 0  # > 0 forbids end-of-sequence before this many tokens (equal-work benchmarks)


@dataclass
class VLLMSpec:
    """The colocated vLLM engine's own settings (`rollout.vllm`; conf/rollout/vllm.yaml writes them out)."""

    gpu_memory_utilization: float = 0.3  # colocated: the trainer keeps the rest
    enable_sleep_mode: bool = True
    dtype: str = "bfloat16"
    max_model_len: int = 4096
    seed: int = 0


@dataclass
class RolloutSpec:
    """The engine, its sampling, and the switches of the `hf` engine's fast paths (each False gives the plain path
    it replaces; results agree to float rounding, see vrft.rollout.hf)."""

    engine: str = "hf"
    sampling: SamplingSpec = field(default_factory=SamplingSpec)
    compile_decode: bool = True  # the lean decode step through torch.compile (vrft.rollout.lean_step)
    shared_prefill: bool = True  # prompts prefilled once per group, in the rollout and the log-prob passes
    lean_decode: bool = True  # False: the shared rollout continues with `generate`
    lean_step: bool = True  # False: decode steps run the model's forward (vrft.rollout.decode.hf_step)
    keep_prefill: bool = (
        True  # False: the policy pass prefills the prompts again (rollout.prefill.KeptPrefill)
    )
    vllm: VLLMSpec = field(default_factory=VLLMSpec)  # the vllm engine's own settings
