"""The SFT baseline: cross-entropy on the solution text (answer-only by default, as the paper's SFT data) under
the same prompts, data, optimizer, schedule and guarded step as GRPO.

One `training_step` receives one optimizer step's examples split into micro-batches; the loss is the token mean
over each micro-batch, weighted by its share of target tokens. Left out: packing, NEFTune and other SFT tricks.
"""

from __future__ import annotations

import torch

from vrft.policy_module import PolicyModule


class SFTModule(PolicyModule):
    def training_step(self, batch: dict, batch_idx: int):
        micro = batch["micro"]
        counts = [int((mb["inputs"]["labels"][:, 1:] != -100).sum()) for mb in micro]
        total = sum(counts) or 1
        loss_sum, finite = 0.0, True
        for mb, n in zip(micro, counts, strict=True):
            loss = self.token_loss(mb["inputs"])
            finite = self.finite_everywhere(loss) and finite  # every rank reduces
            if finite:
                self.manual_backward(loss * (n / total))
            loss_sum += float(loss.detach()) * n / total
        metrics = {"loss": loss_sum, "target_tokens": float(total), **self.guarded_step(finite)}
        self.log_dict({f"train/{k}": v for k, v in metrics.items()}, on_step=True, batch_size=len(micro))

    def token_loss(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = inputs["labels"]
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        logits = self.policy(**model_inputs, use_cache=False).logits[:, :-1].float()
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
        )
