"""What a model is, as the `model` config group spells it: `ModelSpec` (with its `LoraSpec` and, for a model built
locally, its `TinySpec`), and the names each field accepts.

Plain dataclasses with no heavy imports: the config schema (vrft.config) uses them as they are, so each name and
default has one home; every value a run uses is written out in conf/model/*.yaml. Each validates itself when built
(a bad value is a `ConfigError` naming the key). Left out: building and loading (vrft.models.tiny, loader, lora).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from vrft.errors import ConfigError

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5")  # model families (config.model_type)
DTYPES = ("float32", "bfloat16", "float16")
TOKENIZERS = ("bpe", "qwen")  # tiny models: the locally trained BPE, or the official Qwen vocabulary
ATTENTION = ("sdpa", "eager", "flash_attention_2")
# model.path "synthetic:<experiment>": the synthetic world's base model that experiment trains (vrft.synthetic.base)
SYNTHETIC_PREFIX = "synthetic:"

# Bump when the tiny build recipe changes so that cached folders are rebuilt.
_RECIPE_VERSION = 1


@dataclass
class TinySpec:
    """Everything that determines a tiny model; its hash names the cache folder.

    `vocab_size` is the BPE training target (bytes, merges and special tokens); the tag tokens and `extra_tokens`
    (normal, non-special tokens, e.g. "0".."1000") come on top, and the model's embedding is len(tokenizer)
    rounded up to a multiple of 64. Vision: `vision_embed_dim` wide, MLP `vision_mlp_ratio` times wider.
    `tokenizer`: "bpe" (the small BPE trained locally, one token per coordinate value where `extra_tokens` say so)
    or "qwen" (the family's official Qwen vocabulary, vrft.models.qwen_vocab: digit-split numbers, Qwen's ids; the
    embedding grows to ~150k-250k rows, so it is slower).
    """

    family: str = "qwen2_vl"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    vision_depth: int = 2
    vision_embed_dim: int = 64
    vision_num_heads: int = 4
    vision_mlp_ratio: int = 4
    vocab_size: int = 1024
    extra_tokens: tuple[str, ...] = ()
    seed: int = 0
    tie_word_embeddings: bool = True
    max_position_embeddings: int = 4096
    rope_theta: float = 1_000_000.0
    min_pixels: int = 3136
    max_pixels: int = 401408
    tokenizer: str = "bpe"

    def __post_init__(self) -> None:
        self.extra_tokens = tuple(str(t) for t in self.extra_tokens)
        _validate(self)

    def short_hash(self) -> str:
        """10 hex digits of the spec (and the build recipe version); `tokenizer` counts only when not "bpe", so
        the folders built before it existed keep their names."""
        fields = dataclasses.asdict(self)
        if fields["tokenizer"] == "bpe":
            del fields["tokenizer"]
        blob = json.dumps({"recipe": _RECIPE_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _validate(s: TinySpec) -> None:
    bad_tokens = [t for t in s.extra_tokens if not (t.isascii() and t.isprintable()) or " " in t or not t]
    checks = (
        ("family", s.family in FAMILIES, f"one of {', '.join(FAMILIES)}"),
        ("tokenizer", s.tokenizer in TOKENIZERS, f"one of {', '.join(TOKENIZERS)}"),
        ("num_heads", s.hidden_size % s.num_heads == 0, f"must divide hidden_size={s.hidden_size}"),
        ("num_heads", s.hidden_size // max(s.num_heads, 1) % 8 == 0, "head_dim must be a multiple of 8"),
        ("num_kv_heads", s.num_heads % s.num_kv_heads == 0, "must divide num_heads"),
        ("vision_num_heads", s.vision_embed_dim % s.vision_num_heads == 0, "must divide vision_embed_dim"),
        ("vocab_size", s.vocab_size >= 300, "at least 300 (256 bytes + special tokens)"),
        ("min_pixels", 0 < s.min_pixels <= s.max_pixels, "0 < min_pixels <= max_pixels"),
        ("num_layers", min(s.num_layers, s.vision_depth, s.vision_mlp_ratio) > 0, "layer counts must be > 0"),
        ("extra_tokens", not bad_tokens, f"printable ASCII without spaces, got {bad_tokens[:3]}"),
    )
    for key, ok, allowed in checks:
        if not ok:
            raise ConfigError(f"model.tiny.{key}={getattr(s, key)!r} is invalid: {allowed}")


@dataclass
class LoraSpec:
    """LoRA settings; the defaults are the VLM-R1 recipe (r 64, alpha 128, all linear layers of the LLM)."""

    enabled: bool = False
    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    include_vision: bool = False

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)
        if self.r <= 0:
            raise ConfigError(f"model.lora.r={self.r} is invalid: must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora.dropout={self.dropout} is invalid: must be in [0, 1)")
        if not self.target_modules:
            raise ConfigError("model.lora.target_modules is empty: name at least one module, e.g. q_proj")


@dataclass
class ModelSpec:
    """Which model to load and how to train it (the `model` config group). `path` is a local folder or hub id;
    without one, `tiny` is built locally (a path wins, e.g. a trained run's final_model)."""

    name: str = "???"
    path: str | None = None
    family: str = "qwen2_vl"
    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    min_pixels: int = 3136
    max_pixels: int = 401408
    gradient_checkpointing: bool = False
    freeze_vision: bool = False
    tiny: TinySpec | None = None
    lora: LoraSpec = field(default_factory=LoraSpec)
    base_seed: int = 0  # path synthetic:<experiment>: the seed of the base model's training run (its recipe)

    def __post_init__(self) -> None:
        checks = (
            ("family", self.family in FAMILIES, f"one of {', '.join(FAMILIES)}"),
            ("dtype", self.dtype in DTYPES, f"one of {', '.join(DTYPES)}"),
            ("attn_implementation", self.attn_implementation in ATTENTION, f"one of {', '.join(ATTENTION)}"),
            ("min_pixels", 0 < self.min_pixels <= self.max_pixels, "0 < min_pixels <= max_pixels"),
            (
                "tiny",
                self.tiny is None or self.tiny.family == self.family,
                f"tiny.family must be {self.family}",
            ),
        )
        for key, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"model.{key}={getattr(self, key)!r} is invalid: {allowed}")
