"""The SFT baseline: cross-entropy on the solution text under the same prompts, data, optimizer and guarded step as
GRPO (`module.SFTModule`)."""

from vrft.sft.module import SFTModule

__all__ = ["SFTModule"]
