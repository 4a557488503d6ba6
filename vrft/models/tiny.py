"""Tiny Qwen-VL models built locally: a trained byte-level BPE tokenizer, a small config, random weights.

`build_tiny(spec, cache_dir)` makes a real `Qwen2VLForConditionalGeneration` / `Qwen2_5_VLForConditionalGeneration`
from a `TinySpec`, with a tokenizer trained on a generated corpus (Qwen special tokens; `<think>`/`<answer>` tags as
normal tokens), the Qwen2-VL chat template, an image processor with explicit pixel bounds and explicit sampling
defaults, and saves it with `save_pretrained` into `cache_dir/<family>-<hash of the spec>/` (built once, atomically;
the same spec always gives the same weights and tokenizer). The folder then loads like any checkpoint.

Left out: loading (vrft.models.loader), the processor class used to load (vrft.models.processor), Qwen3-VL, and
any pretrained knowledge: the weights are random.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vrft.errors import ConfigError
from vrft.models.processor import FAMILIES, processor_class

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>")
SPECIAL_TOKENS += ("<|image_pad|>", "<|video_pad|>")
VISION_TOKENS = SPECIAL_TOKENS[3:]
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
# Bump when the build recipe changes so that cached folders are rebuilt.
_RECIPE_VERSION = 1

# The chat template Qwen2-VL-2B-Instruct ships (chat_template.json), verbatim.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    """Everything that determines a tiny model; its hash names the cache folder.

    `vocab_size` is the BPE training target (bytes, merges and special tokens); the tag tokens and `extra_tokens`
    (normal, non-special tokens, e.g. "0".."1000") come on top, and the model's embedding is len(tokenizer)
    rounded up to a multiple of 64. Vision: `vision_embed_dim` wide, MLP `vision_mlp_ratio` times wider.
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_tokens", tuple(str(t) for t in self.extra_tokens))
        _validate(self)

    def short_hash(self) -> str:
        """10 hex digits of the spec (and the build recipe version)."""
        blob = json.dumps({"recipe": _RECIPE_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]


def _validate(s: TinySpec) -> None:
    bad_tokens = [t for t in s.extra_tokens if not (t.isascii() and t.isprintable()) or " " in t or not t]
    checks = (
        ("family", s.family in FAMILIES, f"one of {', '.join(FAMILIES)}"),
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


TINY = TinySpec()
SMALL = TinySpec(hidden_size=384, num_layers=6, num_heads=6, intermediate_size=1024, vocab_size=2048)
SMALL = dataclasses.replace(SMALL, vision_depth=4, vision_embed_dim=256, vision_num_heads=4)
TINY_QWEN2_5_VL = dataclasses.replace(TINY, family="qwen2_5_vl")
PRESETS = {"tiny": TINY, "small": SMALL, "tiny_qwen2_5_vl": TINY_QWEN2_5_VL}


def integer_tokens(low: int = 0, high: int = 1000) -> tuple[str, ...]:
    """One token per integer low..high inclusive (Qwen2-VL box coordinates are integers 0..1000)."""
    return tuple(str(i) for i in range(low, high + 1))


def build_tiny(spec: TinySpec, cache_dir: Path) -> Path:
    """Build (once) and return `cache_dir/<family>-<hash>/`; a finished folder is reused as it is."""
    cache_dir = Path(cache_dir)
    final = cache_dir / f"{spec.family}-{spec.short_hash()}"
    if (final / "vrft_tiny_spec.json").is_file():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache_dir))
    try:
        _build_into(spec, tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "vrft_tiny_spec.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _build_into(spec: TinySpec, folder: Path) -> None:
    tokenizer = build_tokenizer(spec)
    model = init_model(spec, tokenizer)
    model.save_pretrained(folder)
    _processor(spec, tokenizer).save_pretrained(folder)
    (folder / "vrft_tiny_spec.json").write_text(json.dumps(dataclasses.asdict(spec), indent=1) + "\n")


def build_tokenizer(spec: TinySpec):
    """A byte-level BPE tokenizer (Qwen2 pre-tokenizer) trained on a generated corpus; deterministic per spec."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, trainers
    from tokenizers import pre_tokenizers as pre
    from transformers import PreTrainedTokenizerFast

    split = Regex(
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    )
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    byte_level = pre.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.pre_tokenizer = pre.Sequence([pre.Split(split, behavior="isolated"), byte_level])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(spec.seed), trainer)
    new = [t for t in dict.fromkeys(TAG_TOKENS + spec.extra_tokens) if tok.token_to_id(t) is None]
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in new])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        extra_special_tokens=list(SPECIAL_TOKENS[1:2] + SPECIAL_TOKENS[3:]),
        padding_side="left",
        model_max_length=spec.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = QWEN2_VL_CHAT_TEMPLATE
    return fast


_WORD_TEXT = (
    "the a an of in on to and or is are this that with for as by from image picture photo object objects "
    "category detect all belonging provide bounding box boxes between integer confidence two decimal places "
    "if no return output thinking process final answer tags format should be follows please strictly follow "
    "position number containing identify species based model plant aircraft car pet flower dog cat bird "
    "find instruction grouding red green blue yellow black white orange purple gray brown circle square "
    "triangle star cross ring disk shape left right top bottom center upper lower small large big tiny one "
    "two three four five there here what which color colour count how many where name you helpful assistant "
    "system user it its see i think so because person bicycle truck boat bus train chair table bottle cup "
    "bowl banana apple horse sheep cow elephant bear"
)
_WORDS = _WORD_TEXT.split()
_FIXED = (
    "You are a helpful assistant.",
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.",
    "<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>",
    "If no object belonging to the category in the image, return 'No Objects'.",
    "<answer>(x1,y1),(x2,y2)</answer>",
)


def _corpus(seed: int) -> list[str]:
    """Sentences of prompt words, boxes, confidences and tags, drawn with `seed` (fixed recipe)."""
    rng = random.Random(seed)
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + [
        "th",
        "ch",
        "sh",
        "st",
        "er",
        "ing",
        "ed",
        "s",
    ]
    coined = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(2000)]
    lines = list(_FIXED) * 20 + [" ".join(coined[i : i + 10]) for i in range(0, len(coined), 10)] * 3
    for _ in range(3000):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12)))
        box = [rng.randint(0, 1000) for _ in range(4)]
        kind = rng.randrange(4)
        if kind == 0:
            lines.append(f"{words.capitalize()}.")
        elif kind == 1:
            lines.append(
                f"<think> {words} </think> <answer>[{{'Position': {box}, 'Confidence': {rng.random():.2f}}}]"
            )
        elif kind == 2:
            lines.append(f"<answer>({box[0]},{box[1]}),({box[2]},{box[3]})</answer> {words}")
        else:
            lines.append(f"{words}, '{rng.choice(_WORDS)}'? {rng.randint(0, 99)} {rng.random():.3f}\n")
    return lines


def build_config(spec: TinySpec, tokenizer):
    """The model config: small text and vision towers, token ids from `tokenizer`, M-RoPE sections from head_dim."""
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig

    half = spec.hidden_size // spec.num_heads // 2
    t = half // 4
    mrope = [t, (half - t) // 2, half - t - (half - t) // 2]
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    text = dict(
        vocab_size=-(-len(tokenizer) // 64) * 64,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        max_window_layers=spec.num_layers,
        rope_parameters={"rope_type": "default", "rope_theta": spec.rope_theta, "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )
    vision = dict(depth=spec.vision_depth, num_heads=spec.vision_num_heads)
    if spec.family == "qwen2_vl":
        cls = Qwen2VLConfig
        vision |= dict(
            embed_dim=spec.vision_embed_dim, hidden_size=spec.hidden_size, mlp_ratio=spec.vision_mlp_ratio
        )
    else:
        cls = Qwen2_5_VLConfig
        vision |= dict(
            hidden_size=spec.vision_embed_dim,
            out_hidden_size=spec.hidden_size,
            intermediate_size=spec.vision_embed_dim * spec.vision_mlp_ratio,
            fullatt_block_indexes=[spec.vision_depth - 1],
        )
    return cls(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec.tie_word_embeddings,
    )


def init_model(spec: TinySpec, tokenizer):
    """The model with random weights drawn from `spec.seed` (the global torch RNG is left untouched)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = _model_class(spec.family)(build_config(spec, tokenizer))
    model.generation_config = _generation_config(tokenizer)
    return model


def _model_class(family: str):
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    classes = {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}
    return classes[family]


def _generation_config(tokenizer):
    """Explicit sampling defaults (transformers' classic top_k=50, top_p=1, temperature=1), never near-greedy."""
    from transformers import GenerationConfig

    end = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    sampling = dict(do_sample=True, temperature=1.0, top_k=50, top_p=1.0)
    return GenerationConfig(**sampling, eos_token_id=end, pad_token_id=end[1], bos_token_id=end[1])


def _processor(spec: TinySpec, tokenizer):
    from transformers import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    return processor_class(spec.family)(image_processor, tokenizer, chat_template=QWEN2_VL_CHAT_TEMPLATE)


def invalid_token_ids(model, tokenizer) -> list[int]:
    """Ids generation must never sample: rows past the tokenizer (embedding padding) and the vision tokens."""
    rows = model.get_output_embeddings().weight.shape[0]
    ids = {tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS}
    ids = {i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id and 0 <= i < rows}
    return sorted(ids | set(range(len(tokenizer), rows)))
