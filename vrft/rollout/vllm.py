"""The colocated vLLM rollout engine (`rollout=vllm`, GPU): vLLM samples, the policy trains, in one process.

Not run against a real vLLM here (none is installed on the machines this repository is tested on); the unit tests
drive it against a stand-in `vllm` module. It follows vLLM's documented offline API and TRL's colocate path:

- `vllm.LLM(model=<the policy's folder>, enable_sleep_mode=..., distributed_executor_backend="external_launcher",
  mm_processor_kwargs={"min_pixels", "max_pixels"} of the training processor, limit_mm_per_prompt={"image": 1})`,
  built on the first rollout, so the model runs in this process beside the trainer;
- each prompt is the training prompt's own chat text (decoded from its ids, the image placeholder run folded back
  to one `<|image_pad|>`) with the raw PIL image as `multi_modal_data`, so vLLM's processor repeats the
  placeholder with the same pixel bounds as training; the prompt ids vLLM reports are checked against the training
  ids, and a mismatch (issue: image features and image tokens do not match) fails loudly;
- `SamplingParams(n=G, temperature, top_p, top_k, max_tokens, min_tokens, stop_token_ids=eos, logit_bias=-100 on
  the suppressed vision tokens, seed)`, every value explicit;
- after each optimizer update the module calls `after_update`; the next rollout pushes the policy's weights
  (`load_weights` on the model inside the engine, through `llm.llm_engine.model_executor.driver_worker.
  model_runner.model` where that path exists, else `llm.apply_model`), LoRA merged into them first and unmerged
  after (peft `merge_adapter` / `unmerge_adapter`), then resets vLLM's prefix cache.

With sleep mode the engine's weights and KV cache are released between rollouts (`llm.sleep(level=1)`, woken with
`llm.wake_up()`), so the trainer gets the memory back. Left out: server mode, tensor parallelism, LoRA as a vLLM
adapter (weights are merged), vLLM's own log-probs (the trainer recomputes them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

from vrft.errors import ConfigError
from vrft.rollout.batching import Rollout, build_rollout
from vrft.rollout.sampling import SamplingSpec, Tokens
from vrft.rollout.spec import RolloutSpec

SUPPRESS_BIAS = -100.0  # vLLM adds logit_bias; -100 leaves a suppressed token with no probability mass
IMAGE_PAD = "<|image_pad|>"


def require_vllm():
    """The vllm module, or ConfigError with the fix when it is not installed."""
    try:
        import vllm
    except ImportError:
        raise ConfigError(
            "rollout=vllm needs the vllm package, which is not installed (pip install vllm, on a CUDA machine); "
            "use rollout=hf here"
        ) from None
    return vllm


def fold_image_pads(text: str) -> str:
    """Chat text with each run of `<|image_pad|>` folded to one (vLLM's processor repeats it per image token)."""
    return re.sub(f"(?:{re.escape(IMAGE_PAD)})+", IMAGE_PAD, text)


def prompt_ids(inputs: dict[str, torch.Tensor]) -> list[list[int]]:
    """Each prompt's ids without its left padding."""
    return [
        ids[mask.bool()].tolist()
        for ids, mask in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)
    ]


def sampling_params(
    vllm, s: SamplingSpec, group_size: int, eos_ids: list[int], suppress_ids: list[int], seed: int
):
    return vllm.SamplingParams(
        n=group_size,
        temperature=s.temperature if s.do_sample else 0.0,
        top_p=s.top_p,
        top_k=s.top_k if s.top_k else -1,
        max_tokens=s.max_new_tokens,
        min_tokens=s.min_new_tokens,
        repetition_penalty=1.0,
        stop_token_ids=list(eos_ids),
        logit_bias={int(i): SUPPRESS_BIAS for i in suppress_ids} or None,
        seed=seed,
        skip_special_tokens=False,
    )


def hf_weights(policy) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) in Hugging Face naming, LoRA merged: peft prefixes and adapter tensors left out."""
    if hasattr(policy, "merge_adapter"):
        policy.merge_adapter()
        try:
            for name, param in policy.named_parameters():
                name = name.removeprefix("base_model.model.").replace(".base_layer", "")
                if "lora_" in name or "original_module" in name:
                    continue
                yield name.replace("modules_to_save.default.", ""), param.data
        finally:
            policy.unmerge_adapter()
    else:
        for name, param in policy.named_parameters():
            yield name, param.data


def model_folder(policy) -> str:
    """The folder (or hub id) the policy was loaded from; vLLM loads its config and processor from there."""
    base = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
    path = getattr(base, "name_or_path", None) or getattr(base.config, "_name_or_path", None)
    if not path:
        raise ConfigError(
            "rollout=vllm: the policy has no name_or_path to load into vLLM; load it from a folder"
        )
    return str(path)


class VLLMRollout:
    """Colocated vLLM sampling behind the engine protocol (vrft.rollout.engines)."""

    def __init__(self, rollout: RolloutSpec, tokens: Tokens, processor=None):
        self.vllm = require_vllm()
        self.sampling, spec = rollout.sampling, rollout.vllm
        self.eos_ids, self.pad_id, self.suppress_ids = tokens.eos_ids, tokens.pad_id, tokens.suppress_ids
        self.processor, self.spec = processor, spec
        self.llm = None
        self.stale = True  # the engine's weights differ from the policy's (set after every update)

    def after_update(self, policy) -> None:
        self.stale = True

    def engine(self, policy):
        if self.llm is None:
            from vrft.models.processor import pixel_bounds

            low, high = pixel_bounds(self.processor)
            self.llm = self.vllm.LLM(
                model=model_folder(policy),
                dtype=self.spec.dtype,
                gpu_memory_utilization=self.spec.gpu_memory_utilization,
                max_model_len=self.spec.max_model_len,
                enable_sleep_mode=self.spec.enable_sleep_mode,
                distributed_executor_backend="external_launcher",
                mm_processor_kwargs={"min_pixels": low, "max_pixels": high},
                limit_mm_per_prompt={"image": 1},
                seed=self.spec.seed,
            )
            if self.spec.enable_sleep_mode:
                self.llm.sleep(level=1)
        return self.llm

    def sync(self, policy) -> None:
        """Push the policy's current weights into the engine (LoRA merged), then drop cached prefixes."""
        weights = list(hf_weights(policy))
        try:
            model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        except AttributeError:
            self.llm.apply_model(lambda m: m.load_weights(weights))
        else:
            model.load_weights(weights)
        self.llm.reset_prefix_cache()
        self.stale = False

    def sample(
        self,
        model,
        inputs: dict[str, torch.Tensor],
        group_size: int,
        *,
        images=None,
        keep_prefill: bool = False,
    ) -> tuple[Rollout, None]:
        """The rollout; vLLM keeps no prefill for the policy pass (`keep_prefill` is ignored)."""
        return self(model, inputs, group_size, images=images), None

    @torch.no_grad()
    def __call__(self, model, inputs: dict[str, torch.Tensor], group_size: int, images=None) -> Rollout:
        if images is None:
            raise ValueError("rollout=vllm needs the raw images of the batch (the collator's `images`)")
        llm = self.engine(model)
        if self.spec.enable_sleep_mode:
            llm.wake_up()
        if self.stale:
            self.sync(model)
        ids = prompt_ids(inputs)
        tok = self.processor.tokenizer
        prompts = [
            {
                "prompt": fold_image_pads(tok.decode(p, skip_special_tokens=False)),
                "multi_modal_data": {"image": im},
            }
            for p, im in zip(ids, images, strict=True)
        ]
        params = sampling_params(
            self.vllm, self.sampling, group_size, self.eos_ids, self.suppress_ids, self.spec.seed
        )
        outputs = llm.generate(prompts, sampling_params=params, use_tqdm=False)
        if self.spec.enable_sleep_mode:
            llm.sleep(level=1)
        return build_rollout(inputs, self.completions(outputs, ids), group_size, self.eos_ids, self.pad_id)

    def completions(self, outputs, ids: list[list[int]]) -> torch.Tensor:
        """(B*G, T) completion ids, right-padded; checks vLLM expanded each image to the training's token count."""
        rows = []
        for b, (out, want) in enumerate(zip(outputs, ids, strict=True)):
            got = list(out.prompt_token_ids)
            if got != want:
                raise RuntimeError(
                    f"rollout=vllm: prompt {b} has {len(got)} tokens in vLLM but {len(want)} in training "
                    "(image placeholder expansion differs: check model.min_pixels/max_pixels and the processor)"
                )
            rows += [torch.tensor(self.with_stop(c), dtype=torch.long) for c in out.outputs]
        width = max(1, max(len(r) for r in rows))
        out_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            out_ids[i, : len(r)] = r
        return out_ids

    def with_stop(self, c) -> list[int]:
        """A completion's ids ending in its stop token when it stopped on one (as `generate` returns them)."""
        ids = list(c.token_ids)
        if getattr(c, "finish_reason", None) == "stop" and (not ids or ids[-1] not in self.eos_ids):
            reason = getattr(c, "stop_reason", None)
            ids.append(reason if isinstance(reason, int) else self.eos_ids[0])
        return ids
