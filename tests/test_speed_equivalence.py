"""The fast paths give the plain paths' results: the shared-prefill rollout draws the same tokens as a plain
`generate(num_return_sequences=G)` for the same seed (and leaves the random generator in the same state), encodes
each image once instead of G times; the shared-prefix log-prob pass matches the plain forward (log-probs, entropy,
gradients) up to float rounding; bf16 autocast stays close to fp32. Tiny Qwen2-VL (Qwen2.5-VL and Qwen3-VL for the
core equalities), CPU, offline."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from vrft.data.collate import PromptCollator
from vrft.models import TINY, LoraSpec, ModelSpec, apply_lora, load_model
from vrft.rollout import prefill as prefill_module
from vrft.rollout.hf import HFRollout
from vrft.rollout.logps import sequence_logps
from vrft.rollout.sampling import generation_tokens
from vrft.rollout.spec import RolloutSpec, SamplingSpec

torch.set_num_threads(1)
G = 4


@pytest.fixture(scope="module")
def setup(cache_dir):
    spec = ModelSpec(name="tiny", family="qwen2_vl", min_pixels=3136, max_pixels=50176, tiny=TINY)
    model, processor = load_model(spec, cache_dir)
    rng = np.random.default_rng(0)
    sizes = [(112, 112), (84, 56), (56, 112)]  # different image-token counts: prompts are left-padded
    rows = [
        {"image": Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)), "problem": p}
        for (w, h), p in zip(sizes, ["Find the cat.", "Where is the red square?", "Box it."], strict=True)
    ]
    inputs = PromptCollator(processor)(rows)["inputs"]
    return model, processor, generation_tokens(model, processor.tokenizer), inputs


def engine(tokens, sampling: SamplingSpec, **switches):
    """The hf engine with the given fast-path switches (eager decode step unless asked)."""
    return HFRollout(RolloutSpec(sampling=sampling, **{"compile_decode": False, **switches}), tokens)


def engines(tokens, sampling: SamplingSpec):
    return engine(tokens, sampling, shared_prefill=False), engine(tokens, sampling)


class EosBoost:
    """Scale the end-of-turn row of the (tied) output embedding so completions end early, some on token one."""

    def __init__(self, model, eos: int, scale: float):
        self.model, self.eos, self.scale = model, eos, scale

    def __enter__(self):
        with torch.no_grad():
            self.model.get_output_embeddings().weight[self.eos] *= self.scale

    def __exit__(self, *exc):
        with torch.no_grad():
            self.model.get_output_embeddings().weight[self.eos] /= self.scale


def module_named(model, suffix: str):
    return next(m for name, m in model.named_modules() if name.endswith(suffix))


class Inputs:
    """Records the leading shape of what the vision tower (patch rows) and the language model (rows, tokens)
    receive in each call."""

    def __init__(self, model):
        self.vision: list[int] = []
        self.text: list[tuple[int, int]] = []
        self.handles = [
            module_named(model, "visual").register_forward_pre_hook(self.on_vision, with_kwargs=True),
            module_named(model, "language_model").register_forward_pre_hook(self.on_text, with_kwargs=True),
        ]

    def on_vision(self, mod, args, kwargs):
        self.vision.append(int(args[0].shape[0]))

    def on_text(self, mod, args, kwargs):
        self.text.append(tuple(kwargs["inputs_embeds"].shape[:2]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def sample_both(model, tokens, inputs, sampling, seed):
    plain, shared = engines(tokens, sampling)
    out = []
    for engine in (plain, shared):
        torch.manual_seed(seed)
        with Inputs(model) as seen, torch.no_grad():  # no kept prefill: EosBoost edits weights after sampling
            r = engine(model, inputs, G)
        out.append((r, seen, torch.rand(3)))
    return out


CASES = [
    ("default", SamplingSpec(max_new_tokens=10), 1.0),
    ("temperature+top_p+top_k", SamplingSpec(temperature=0.7, top_p=0.9, top_k=20, max_new_tokens=10), 1.0),
    ("forced_length", SamplingSpec(max_new_tokens=10, min_new_tokens=10), 1.0),
    ("early_eos", SamplingSpec(max_new_tokens=10), 20.0),
    ("early_eos_min_3", SamplingSpec(max_new_tokens=10, min_new_tokens=3), 20.0),
    ("all_end_early", SamplingSpec(max_new_tokens=10), 50.0),  # seed 0: every row ends on its first token
]


@pytest.mark.parametrize("name,sampling,eos_scale", CASES, ids=[c[0] for c in CASES])
def test_shared_prefill_draws_the_same_tokens(setup, name, sampling, eos_scale):
    model, _, tokens, inputs = setup
    patches = int(inputs["image_grid_thw"].prod(-1).sum())
    B, P = inputs["input_ids"].shape
    lengths, widths = [], []
    with EosBoost(model, tokens.eos_ids[0], eos_scale):
        for seed in range(3):
            (a, seen_a, rng_a), (b, seen_b, rng_b) = sample_both(model, tokens, inputs, sampling, seed)
            assert torch.equal(a.completion_ids, b.completion_ids), f"{name} seed {seed}: different tokens"
            assert torch.equal(a.completion_mask, b.completion_mask)
            assert torch.equal(a.truncated, b.truncated)
            assert torch.equal(rng_a, rng_b), "the shared path consumed the random stream differently"
            assert seen_b.vision == [patches], "each image must be encoded once per group"
            assert seen_b.text[0] == (B, P) and seen_a.text[0] == (B * G, P), "the prompt is prefilled once"
            assert all(n == 1 for _, n in seen_b.text[1:]), "after the prefill, one token per row and step"
            lengths += a.completion_mask.sum(1).tolist()
            widths.append(a.completion_ids.shape[1])
            assert all(m.rope_deltas is None for m in model.modules() if hasattr(m, "rope_deltas"))
    if (
        eos_scale > 1
    ):  # the cases exercise what they claim: early ends (and, without a minimum, first-token ends)
        assert min(lengths) < sampling.max_new_tokens
        assert sampling.min_new_tokens or 1 in lengths
        assert min(lengths) >= max(1, sampling.min_new_tokens)
    if name == "all_end_early":
        assert max(widths) < sampling.max_new_tokens and min(widths) == 1


def test_shared_greedy_equals_plain_greedy(setup):
    """Greedy decoding: the shared path's G rows equal one plain greedy completion per prompt."""
    model, _, tokens, inputs = setup
    greedy = SamplingSpec(max_new_tokens=10, do_sample=False)
    plain, shared = engines(tokens, greedy)
    one = plain(model, inputs, 1)
    many = shared(model, inputs, G)
    width = many.completion_ids.shape[1]
    assert torch.equal(many.completion_ids, one.completion_ids.repeat_interleave(G, 0)[:, :width])


@pytest.fixture(scope="module")
def rollout(setup):
    model, _, tokens, inputs = setup
    torch.manual_seed(0)
    with EosBoost(model, tokens.eos_ids[0], 6.0), torch.no_grad():  # ragged lengths: masked tails too
        return engines(tokens, SamplingSpec(max_new_tokens=12))[1](model, inputs, G)


def logps_and_grads(model, r, *, shared: bool, autocast: bool = False, kept=None):
    model.train()
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logps, entropy = sequence_logps(
            model, r, temperature=0.9, with_entropy=True, shared_prefill=shared, kept=kept
        )
    mask = r.completion_mask.float()
    adv = torch.linspace(-1, 1, r.num_sequences).unsqueeze(1)
    (-(logps * adv * mask).sum() / mask.sum()).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return logps.detach(), entropy, grads


def test_shared_prefix_logps_match_the_plain_forward(setup, rollout, monkeypatch):
    model = setup[0]
    calls = []
    real = prefill_module.shared_completion_logits

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("vrft.rollout.logps.shared_completion_logits", spy)
    with Inputs(model) as plain:
        lp_plain, ent_plain, g_plain = logps_and_grads(model, rollout, shared=False)
    assert not calls
    with Inputs(model) as shared:
        lp_shared, ent_shared, g_shared = logps_and_grads(model, rollout, shared=True)
    assert calls, "the shared-prefix path was not taken"
    N, P, T = rollout.num_sequences, rollout.prompt_ids.shape[1], rollout.completion_ids.shape[1]
    assert plain.text == [(N, P + T)] and shared.text == [(N // G, P), (N, T - 1)]
    assert sum(plain.vision) == G * sum(shared.vision), "the policy pass encodes each image once"
    mask = rollout.completion_mask.bool()
    assert mask.sum() < mask.numel(), "the rollout should have padded (ended) rows"
    torch.testing.assert_close(lp_shared[mask], lp_plain[mask], atol=2e-5, rtol=0)
    torch.testing.assert_close(ent_shared[mask], ent_plain[mask], atol=2e-5, rtol=0)
    assert ((g_shared - g_plain).norm() / g_plain.norm()) < 1e-4
    with torch.no_grad():
        ref_plain = sequence_logps(model, rollout, shared_prefill=False)[0]
        ref_shared = sequence_logps(model, rollout)[0]
    torch.testing.assert_close(ref_shared[mask], ref_plain[mask], atol=2e-5, rtol=0)


def test_shared_prefix_is_skipped_for_ungrouped_rows(setup, rollout, monkeypatch):
    """Rows whose prompts differ inside a group (not a rollout's layout) take the plain forward."""
    calls = []
    monkeypatch.setattr("vrft.rollout.logps.shared_completion_logits", lambda *a, **k: calls.append(1))
    mixed = dataclasses.replace(rollout, prompt_ids=rollout.prompt_ids.roll(1, dims=0))
    with torch.no_grad():
        sequence_logps(setup[0], mixed)
    assert not calls


def test_bf16_autocast_stays_close_to_fp32(setup, rollout):
    """bf16 autocast (trainer.precision=bf16-mixed) against fp32 on the same rollout: log-probs and the policy
    gradient's direction agree within bf16's precision."""
    model = setup[0]
    lp32, _, g32 = logps_and_grads(model, rollout, shared=True)
    lp16, _, g16 = logps_and_grads(model, rollout, shared=True, autocast=True)
    mask = rollout.completion_mask.bool()
    diff = (lp16 - lp32)[mask].abs()
    assert lp16.dtype == torch.float32 and torch.isfinite(lp16).all()
    assert diff.mean() < 0.01 and diff.max() < 0.1, (float(diff.mean()), float(diff.max()))
    cosine = torch.nn.functional.cosine_similarity(g16, g32, dim=0)
    assert cosine > 0.99, float(cosine)
    assert not torch.equal(lp16, lp32), "autocast had no effect: the comparison would be vacuous"


@pytest.mark.parametrize(
    ("family", "eos_scale"), [("qwen2_5_vl", 40.0), ("qwen3_vl", 20.0), ("qwen3_5", 20.0)]
)
def test_other_families_shared_paths_match(cache_dir, family, eos_scale):
    """The same equalities on Qwen2.5-VL and Qwen3-VL (each its own mRoPE index; Qwen3-VL's is interleaved, with
    deepstack features and 32-px tokens): sampled tokens exactly, log-probs and gradients to rounding."""
    from vrft.models import PRESETS

    spec = ModelSpec(name=family, family=family, max_pixels=50176, tiny=PRESETS[f"tiny_{family}"])
    model, processor = load_model(spec, cache_dir)
    assert model.config.model_type == family
    tokens = generation_tokens(model, processor.tokenizer)
    rows = [
        {"image": Image.new("RGB", (w, 56), (30, 90, 200)), "problem": p}
        for w, p in [(112, "Box it."), (56, "Where?")]
    ]
    inputs = PromptCollator(processor)(rows)["inputs"]
    assert inputs["attention_mask"][1, 0] == 0, "the prompts should differ in length (left padding)"
    patches = int(inputs["image_grid_thw"].prod(-1).sum())
    with EosBoost(model, tokens.eos_ids[0], eos_scale):  # ragged lengths: masked tail positions are exercised
        (a, _, rng_a), (b, seen, rng_b) = sample_both(
            model, tokens, inputs, SamplingSpec(max_new_tokens=10), 0
        )
    assert torch.equal(a.completion_ids, b.completion_ids) and torch.equal(rng_a, rng_b)
    assert seen.vision == [patches], "each image must be encoded once per group"
    assert all(m.rope_deltas is None for m in model.modules() if hasattr(m, "rope_deltas"))
    lp_plain, ent_plain, g_plain = logps_and_grads(model, b, shared=False)
    lp_shared, ent_shared, g_shared = logps_and_grads(model, b, shared=True)
    mask = b.completion_mask.bool()
    assert mask.sum() < mask.numel(), "the rollout should have padded (ended) rows"
    torch.testing.assert_close(lp_shared[mask], lp_plain[mask], atol=2e-5, rtol=0)
    torch.testing.assert_close(ent_shared[mask], ent_plain[mask], atol=2e-5, rtol=0)
    assert ((g_shared - g_plain).norm() / g_plain.norm()) < 1e-4


def test_bench_serves_trl_the_prompts_vrft_trains_on():
    """The benchmark's TRL dataset (unshuffled) lists the rows in the order vrft's data module serves them."""
    from vrft.bench.workload import BenchSpec, rows_in_order
    from vrft.data.datamodule import TrainData

    rows = [{"id": i} for i in range(7)]
    spec = BenchSpec(steps=5, warmup=1, prompts=3, seed=3)
    data = TrainData(rows, lambda batch: batch, prompts_per_step=spec.prompts, seed=spec.seed)
    loader = iter(data.train_dataloader())
    served = [r for _ in range(spec.warmup + spec.steps) for r in next(loader)]
    assert rows_in_order(rows, spec) == served
    assert len({r["id"] for r in served}) == len(rows)  # several passes over the rows: the order matters


def test_shared_rollout_decode_paths(setup, monkeypatch):
    """The equalities above run the lean step (vrft.rollout.lean_step): it is the path taken. With `lean_step=False`
    the model's own forward decodes into a cache preallocated for the whole completion, and a cache that cannot be
    preallocated falls back to `generate`; all three draw the same tokens."""
    from vrft.rollout import hf as rollout_module
    from vrft.rollout.decode import PreallocatedLayer
    from vrft.rollout.lean_step import LeanStep

    model, _, tokens, inputs = setup
    built, hf_caches = [], []
    real_build, real_hf = LeanStep.build.__func__, rollout_module.hf_step

    def spy_build(cls, *args, **kwargs):
        built.append(real_build(cls, *args, **kwargs))
        return built[-1]

    def spy_hf(model, cache, **kwargs):
        hf_caches.append([(type(layer), layer.key_buffer.shape[-2]) for layer in cache.layers])
        return real_hf(model, cache, **kwargs)

    monkeypatch.setattr(LeanStep, "build", classmethod(spy_build))
    monkeypatch.setattr(rollout_module, "hf_step", spy_hf)
    sampling = SamplingSpec(max_new_tokens=10, min_new_tokens=10)
    out = []
    for use_lean, can_preallocate in [(True, True), (False, True), (False, False)]:
        lean = engine(tokens, sampling, lean_step=use_lean)
        if not can_preallocate:
            monkeypatch.setattr(rollout_module, "preallocate", lambda cache, extra: False)
        torch.manual_seed(0)
        out.append(lean(model, inputs, G).completion_ids)
    P = inputs["input_ids"].shape[1]
    assert len(built) == 1 and isinstance(built[0], LeanStep), "the lean step should decode the first rollout"
    assert len(hf_caches) == 1, "the model's forward decodes the second rollout, generate the third"
    assert all(kind is PreallocatedLayer and n == P + 9 for kind, n in hf_caches[0])
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_lean_step_logits_match_the_model_forward(cache_dir, family):
    """Step by step, on left-padded prompts with images, the lean step's logits equal the model's forward on the
    repeated cache to float rounding (fed the same tokens)."""
    import copy

    from vrft.models import PRESETS
    from vrft.rollout.decode import hf_step, preallocate
    from vrft.rollout.lean_step import LeanStep
    from vrft.rollout.prefill import cache_kwarg, completion_positions, prefill, rope_holder

    name = "tiny" if family == "qwen2_vl" else f"tiny_{family}"
    spec = ModelSpec(name=family, family=family, max_pixels=50176, tiny=PRESETS[name])
    model, processor = load_model(spec, cache_dir)
    model.eval()
    rows = [
        {"image": Image.new("RGB", (w, 56), (30, 90, 200)), "problem": p}
        for w, p in [(112, "Box it."), (56, "Where is the red square in this picture?")]
    ]
    inputs = PromptCollator(processor)(rows)["inputs"]
    assert (inputs["attention_mask"] == 0).any(), "the prompts should be left-padded"
    B, P = inputs["input_ids"].shape
    T, N = 8, B * G
    torch.manual_seed(0)
    tokens = torch.randint(0, 200, (N, T))
    with torch.no_grad():
        _, cache, deltas = prefill(model, inputs, G, repeat=False)
        full_mask = torch.cat(
            [inputs["attention_mask"].repeat_interleave(G, 0), torch.ones(N, T, dtype=torch.long)], 1
        )
        positions = completion_positions(full_mask, P, deltas)
        lean = LeanStep.build(model, copy.deepcopy(cache), inputs["attention_mask"], G, positions[0], T - 1)
        assert lean is not None
        cache.batch_repeat_interleave(G)
        assert preallocate(cache, T - 1)
        rope_holder(model).rope_deltas = deltas
        hf = hf_step(model, cache, full_mask=full_mask, positions=positions, cache_kwarg=cache_kwarg(model))
        for t in range(1, T):
            ours, theirs = lean(tokens[:, t - 1], t), hf(tokens[:, t - 1], t)
            assert ours.shape == theirs.shape == (N, model.config.get_text_config().vocab_size)
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
        rope_holder(model).rope_deltas = None


def lean_inputs(setup, T: int):
    """(model, B-row prompt cache, prompt mask, positions, tokens) for driving LeanStep by hand."""
    from vrft.rollout.prefill import completion_positions, prefill, rope_holder

    model, _, _, inputs = setup
    model.eval()
    B, P = inputs["input_ids"].shape
    with torch.no_grad():
        _, cache, deltas = prefill(model, inputs, G, repeat=False)
    rope_holder(model).rope_deltas = None
    mask = torch.cat(
        [inputs["attention_mask"].repeat_interleave(G, 0), torch.ones(B * G, T, dtype=torch.long)], 1
    )
    torch.manual_seed(1)
    return (
        model,
        cache,
        inputs["attention_mask"],
        completion_positions(mask, P, deltas)[0],
        torch.randint(0, 200, (B * G, T)),
    )


def eager_and_compiled(setup, T: int):
    """(eager LeanStep, compiled LeanStep, tokens), each on its own copy of the prompt cache."""
    import copy

    from vrft.rollout.lean_step import LeanStep

    model, cache, mask, positions, tokens = lean_inputs(setup, T)
    with torch.no_grad():
        steps = [
            LeanStep.build(model, copy.deepcopy(cache), mask, G, positions, T - 1, compiled=c)
            for c in (False, True)
        ]
    return *steps, tokens


def test_compiled_lean_step_matches_the_eager_one(setup):
    """torch.compile of the decode step (rollout.compile_decode) gives the eager step's logits to float rounding,
    step after step (its buffers fed by its own writes)."""

    from vrft.rollout import lean_step

    T = 6
    eager, compiled, tokens = eager_and_compiled(setup, T)
    with torch.no_grad():
        for t in range(1, T):
            torch.testing.assert_close(
                compiled(tokens[:, t - 1], t), eager(tokens[:, t - 1], t), atol=1e-5, rtol=1e-4
            )
    assert lean_step._COMPILED.get("fn") is not None, "the compiled step should have served"


def test_a_failing_compile_falls_back_to_the_eager_step(setup, monkeypatch, caplog):

    from vrft.rollout import lean_step

    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(lean_step, "_COMPILED", {})
    monkeypatch.setattr(lean_step.torch, "compile", broken)
    T = 3
    eager, failing, tokens = eager_and_compiled(setup, T)
    with torch.no_grad():
        for t in range(1, T):
            assert torch.equal(failing(tokens[:, t - 1], t), eager(tokens[:, t - 1], t))
    assert "compiled decode step failed (RuntimeError: no C++ compiler)" in caplog.text
    assert caplog.text.count("compiled decode step failed") == 1 and lean_step._COMPILED["fn"] is None


def test_lean_step_declines_what_it_does_not_cover(setup):
    """LoRA-wrapped projections, autocast and gradient mode keep the model's own forward (build returns None)."""
    import copy

    from vrft.rollout.lean_step import LeanStep
    from vrft.rollout.prefill import prefill

    model, _, _, inputs = setup
    with torch.no_grad():
        _, cache, _ = prefill(model, inputs, G, repeat=False)
    N, T = inputs["input_ids"].shape[0] * G, 4
    positions = torch.arange(T).expand(N, T)

    def build(m):
        return LeanStep.build(m, cache, inputs["attention_mask"], G, positions, T)

    with torch.no_grad():
        assert build(model) is not None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert build(model) is None
    assert build(model) is None  # gradients enabled
    lora = apply_lora(copy.deepcopy(model), LoraSpec(enabled=True, r=2, alpha=4, dropout=0.0))
    with torch.no_grad():
        assert build(lora) is None


def test_preallocated_layer_refuses_to_overflow():
    from transformers.cache_utils import DynamicLayer

    from vrft.rollout.decode import PreallocatedLayer

    layer = DynamicLayer()
    layer.update(torch.ones(1, 1, 3, 2), torch.ones(1, 1, 3, 2))
    pre = PreallocatedLayer(layer, extra=1)
    k, v = pre.update(torch.full((1, 1, 1, 2), 2.0), torch.full((1, 1, 1, 2), 3.0))
    assert k.shape[-2] == 4 and pre.get_seq_length() == 4 and float(v[0, 0, -1, 0]) == 3.0
    with pytest.raises(RuntimeError, match="preallocated cache full"):
        pre.update(torch.ones(1, 1, 1, 2), torch.ones(1, 1, 1, 2))


@pytest.mark.parametrize("length", [5, 6, 7])  # before, at and after the minimum of 2 new tokens
def test_banned_tokens_equal_min_new_tokens_then_suppress(length):
    from transformers import MinNewTokensLengthLogitsProcessor, SuppressTokensLogitsProcessor

    from vrft.rollout.sampling import BannedTokens

    scores, ids = torch.randn(3, 50), torch.zeros(3, length, dtype=torch.long)
    hf = SuppressTokensLogitsProcessor([4, 9])(
        ids, MinNewTokensLengthLogitsProcessor(4, 2, [7, 8])(ids, scores)
    )
    ours = BannedTokens(4, 2, [7, 8], [4, 9], 50)(ids, scores)
    assert torch.equal(ours, hf) and bool(torch.isinf(ours[:, 7]).all()) == (length < 6)


@pytest.mark.parametrize("vocab", [None, 50])  # masks built at the first call, or given the vocabulary
def test_banned_tokens_build_their_masks_for_the_scores(vocab):
    from vrft.rollout.sampling import BannedTokens

    scores, ids = torch.randn(3, 50), torch.zeros(3, 5, dtype=torch.long)
    out = BannedTokens(4, 2, [7, 8], [4, 9, 60], vocab)(ids, scores)
    banned = torch.isinf(out).all(0).nonzero().flatten().tolist()
    assert banned == [4, 7, 8, 9] and torch.equal(out[:, :4], scores[:, :4])


@pytest.mark.parametrize("top_k", [1, 5, 50, 80])  # 80 > vocabulary: nothing is masked
def test_top_k_equals_transformers_top_k_warper(top_k):
    """The same entries kept as TopKLogitsWarper, with -inf entries already present and tied scores."""
    from transformers import TopKLogitsWarper

    from vrft.rollout.sampling import TopK

    torch.manual_seed(top_k)
    scores = torch.randn(4, 60).round(decimals=1)  # many ties
    scores[:, :7] = -float("inf")
    ids = torch.zeros(4, 3, dtype=torch.long)
    assert torch.equal(TopK(top_k)(ids, scores), TopKLogitsWarper(top_k=top_k)(ids, scores.clone()))


@pytest.mark.parametrize("seed", range(40))
def test_multinomial_one_draws_what_torch_multinomial_draws(seed):
    """The same indices and the same generator state after, from many stream positions (right after seeding,
    mid-block, across a 624-word regeneration), with and without zero probabilities."""
    from vrft.rollout.draw import multinomial_one

    torch.manual_seed(seed)
    torch.rand(seed * 53 % 1400)  # move the stream
    vocab = [7, 50, 2112, 311][seed % 4]
    logits = torch.randn(16, vocab)
    if seed % 3:  # top-k: most entries 0
        logits = logits.masked_fill(logits < logits.topk(min(vocab, 1 + seed)).values[:, -1:], -float("inf"))
    probs = torch.softmax(logits, dim=-1)
    start = torch.get_rng_state()
    theirs, their_state = torch.multinomial(probs, 1).squeeze(1), torch.get_rng_state()
    torch.set_rng_state(start)
    ours = multinomial_one(probs)
    assert torch.equal(ours, theirs) and torch.equal(torch.get_rng_state(), their_state)


@pytest.mark.parametrize(
    ("bad", "message"),
    [(float("nan"), "inf`, `nan` or element < 0"), (-0.1, "inf`, `nan` or element < 0"), (0.0, "sum of")],
)
def test_multinomial_one_refuses_what_torch_refuses(bad, message):
    from vrft.rollout.draw import multinomial_one

    probs = torch.full((2, 5), 0.2)
    probs[1] = bad if bad == 0.0 else probs[1]
    probs[1, 0] = bad
    with pytest.raises(RuntimeError, match=message):
        multinomial_one(probs)
    with pytest.raises(RuntimeError, match=message):
        torch.multinomial(probs, 1)


def test_kept_prefill_gives_the_policy_pass_the_same_logps_and_gradients(setup):
    """A rollout sampled with gradients on keeps its prompt prefill; the policy pass then runs only the completion
    tokens (the vision tower is not called again) and gets the same log-probs and gradients as a pass that
    prefills afresh. The kept prefill is used once, and never by a no-grad pass (reference, old log-probs)."""
    model, _, tokens, inputs = setup
    out = {}
    for keep in (True, False):
        hf = engine(tokens, SamplingSpec(max_new_tokens=8), keep_prefill=keep)
        torch.manual_seed(0)
        model.train()
        r, kept = hf.sample(model, inputs, G, keep_prefill=True)
        assert (kept is not None) == keep
        if keep:  # a no-grad pass (reference, old log-probs) is never given it
            with torch.no_grad(), pytest.raises(ValueError, match="gradient pass"):
                sequence_logps(model, r, kept=kept)
        with Inputs(model) as seen:
            out[keep] = (r.completion_ids, *logps_and_grads(model, r, shared=True, kept=kept))
        assert bool(seen.vision) != keep, (
            "with a kept prefill the policy pass does not encode the images again"
        )
    (ids_a, lp_a, ent_a, g_a), (ids_b, lp_b, ent_b, g_b) = out[True], out[False]
    assert torch.equal(ids_a, ids_b)
    assert torch.equal(lp_a, lp_b) and torch.equal(ent_a, ent_b) and torch.equal(g_a, g_b)


def test_no_prefill_is_kept_without_gradients_or_with_dropout(setup):
    """Sampling under no_grad keeps nothing; nor does a model with active dropout (an eval-mode prefill would not
    be the training-mode pass), attention dropout or a LoRA adapter's."""
    import copy

    from vrft.rollout.prefill import keeps_graph

    model, _, tokens, inputs = setup
    hf = engines(tokens, SamplingSpec(max_new_tokens=4))[1]
    with torch.no_grad():
        assert hf.sample(model, inputs, G, keep_prefill=True)[1] is None
    assert hf.sample(model, inputs, G, keep_prefill=True)[1] is not None
    assert hf.sample(model, inputs, G)[1] is None, "kept only when asked"
    attn = next(m for m in model.modules() if hasattr(m, "attention_dropout"))
    saved, attn.attention_dropout = attn.attention_dropout, 0.1
    try:
        assert hf.sample(model, inputs, G, keep_prefill=True)[1] is None
    finally:
        attn.attention_dropout = saved
    assert not keeps_graph(
        apply_lora(copy.deepcopy(model), LoraSpec(enabled=True, r=2, alpha=4, dropout=0.05))
    )
    assert keeps_graph(apply_lora(copy.deepcopy(model), LoraSpec(enabled=True, r=2, alpha=4, dropout=0.0)))
