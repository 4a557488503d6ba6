"""vrft: Visual-RFT (reinforcement fine-tuning of vision-language models with verifiable rewards)."""

from vrft.paths import register_resolvers

register_resolvers()

__version__ = "0.1.0"
