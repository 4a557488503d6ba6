"""The tokenizer and chat templates of the tiny models: a byte-level BPE trained on a generated corpus.

`build_tokenizer(seed, vocab_size, extra_tokens, ...)` trains a Qwen2-style byte-level BPE (the Qwen special tokens;
`<think>`/`<answer>` tags and any extra tokens as normal tokens that survive `skip_special_tokens=True`) on
sentences of prompt words, boxes and tags drawn with the seed; the same arguments always give the same tokenizer.
`CHAT_TEMPLATES` holds the chat template per family.

Left out: the model and the processor (vrft.models.tiny), any pretrained vocabulary, and the tool-calling and
reasoning branches of the chat templates Qwen ships.
"""

from __future__ import annotations

import random

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>")
SPECIAL_TOKENS += ("<|image_pad|>", "<|video_pad|>")
VISION_TOKENS = SPECIAL_TOKENS[3:]
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
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

# Qwen3-VL-Instruct's chat template (chat_template.json of Qwen/Qwen3-VL-2B-Instruct) for the messages vrft sends:
# its `render_content` macro verbatim and the plain system/user/assistant turns, without the tool-calling and
# reasoning branches. Unlike Qwen2-VL's, it adds no default system turn.
QWEN3_VL_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}"
    "{%- macro render_content(content, do_vision_count) %}{%- if content is string %}{{- content }}{%- else %}"
    "{%- for item in content %}{%- if 'image' in item or 'image_url' in item or item.type == 'image' %}"
    "{%- if do_vision_count %}{%- set image_count.value = image_count.value + 1 %}{%- endif %}"
    "{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif 'video' in item or item.type == 'video' %}{%- if do_vision_count %}"
    "{%- set video_count.value = video_count.value + 1 %}{%- endif %}"
    "{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in item %}{{- item.text }}{%- endif %}{%- endfor %}{%- endif %}{%- endmacro %}"
    "{%- for message in messages %}{%- set content = render_content(message.content, True) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Qwen3.5's generation prompt: a thinking model, its assistant turn opens with "<think>\n" unless the caller passes
# enable_thinking=False, which closes an empty think block instead (the Qwen3 convention). vrft always passes
# enable_thinking=False (vrft.data.collate.CHAT_KWARGS), so the completion carries its own <think>/<answer> tags.
QWEN3_5_CHAT_TEMPLATE = QWEN3_VL_CHAT_TEMPLATE.replace(
    "{{- '<|im_start|>assistant\\n' }}",
    "{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- else %}{{- '<think>\\n' }}{%- endif %}",
)
CHAT_TEMPLATES = {
    "qwen2_vl": QWEN2_VL_CHAT_TEMPLATE,
    "qwen2_5_vl": QWEN2_VL_CHAT_TEMPLATE,  # the tiny Qwen2.5-VL has always used the Qwen2-VL template
    "qwen3_vl": QWEN3_VL_CHAT_TEMPLATE,
    "qwen3_5": QWEN3_5_CHAT_TEMPLATE,
}


def build_tokenizer(spec):
    """A byte-level BPE tokenizer (Qwen2 pre-tokenizer) trained on a generated corpus; deterministic per spec.

    `spec` is a `vrft.models.tiny.TinySpec` (family, vocab_size, extra_tokens, seed, max_position_embeddings).
    """
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
    fast.chat_template = CHAT_TEMPLATES[spec.family]
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
