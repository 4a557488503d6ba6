"""The benchmark's device mode (`python -m vrft.bench --device cuda --model NAME`): the real-architecture configs
have the published parameter counts, a built folder loads like a checkpoint with the real vocabulary, `--device
cuda` selects the paper's per-step work, and the mode runs end to end on CPU with a tiny model. CPU, offline."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vrft.bench import arch
from vrft.bench.__main__ import main, parse


@pytest.mark.parametrize(
    "name, published",
    [("qwen2_vl_2b", 2.21e9), ("qwen2_5_vl_3b", 3.75e9)],  # the model cards' "2.21B" and "3.75B params"
)
def test_architectures_have_the_published_parameter_counts(name, published):
    n = arch.count_parameters(name)
    assert round(n / 1e9, 2) == published / 1e9, f"{name}: {n} parameters"


def test_built_folder_loads_with_the_real_vocabulary(tmp_path, monkeypatch):
    """A narrowed Qwen2-VL-2B (2 layers, 64 wide, the real 151,936-row vocabulary) through the same build path."""
    from vrft.models.loader import ModelSpec, load_model
    from vrft.rollout.sampling import generation_tokens

    base = arch.QWEN2_VL_2B
    text = dict(
        base["text"], hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4
    )
    text["rope_parameters"] = dict(text["rope_parameters"], mrope_section=[2, 3, 3])  # head_dim 16
    vision = dict(base["vision"], depth=1, embed_dim=32, num_heads=2, hidden_size=64)
    monkeypatch.setitem(arch.ARCHS, "narrow_2b", dict(base, text=text, vision=vision))
    folder = arch.build_arch("narrow_2b", tmp_path)
    assert arch.build_arch("narrow_2b", tmp_path) == folder  # built once
    model, processor = load_model(
        ModelSpec(name="n", path=str(folder), dtype="bfloat16", max_pixels=401408), tmp_path
    )
    assert model.get_output_embeddings().weight.shape == (151936, 64)
    assert model.dtype == torch.bfloat16
    tokens = generation_tokens(model, processor.tokenizer)
    # everything past the small tokenizer is never sampled, so completions decode
    assert len(tokens.suppress_ids) > 151936 - len(processor.tokenizer)
    assert 151935 in tokens.suppress_ids and tokens.eos_ids[0] not in tokens.suppress_ids


def test_cuda_selects_the_paper_work_and_explicit_flags_win():
    spec, args = parse(["--device", "cuda", "--model", "qwen2_vl_2b"])
    work = (spec.prompts, spec.group, spec.length, spec.image_size, spec.vrft_precision)
    assert work == (16, 8, 256, 448, "bf16-mixed") and args.sides == "vrft"
    spec, _ = parse(["--device", "cuda", "--model", "qwen2_vl_2b", "--length", "32", "--prompts=2"])
    assert (spec.length, spec.prompts, spec.prompts_per_batch, spec.group) == (32, 2, 2, 8)
    spec, args = parse([])  # the CPU comparison is unchanged
    assert dataclasses.astuple(spec) == dataclasses.astuple(type(spec)()) and args.sides == "vrft,trl"
    with pytest.raises(SystemExit):
        parse(["--device", "cuda", "--sides", "vrft,trl"])


def test_device_mode_runs_on_cpu_with_a_tiny_model(cache_dir, capsys):
    argv = ["--device", "cpu", "--model", "tiny_qwen2_vl", "--prompts", "2", "--group", "2", "--length", "6"]
    argv += ["--image-size", "56", "--steps", "2", "--warmup", "1", "--vrft-precision", "32-true"]
    main(argv + ["--cache-dir", str(cache_dir)])
    out = capsys.readouterr().out
    assert "speedup_vs_trl" not in out and "trl:" not in out
    assert "| tiny_qwen2_vl (random weights) |" in out
    for part in ("rollout", "reference_pass", "policy_pass", "backward", "optimizer"):
        assert f"| {part} | " in out
    assert "2 prompts x G=2 completions of 6 tokens" in out
    tps = float(out.strip().splitlines()[-1].split(": ")[1])
    assert tps > 0


@pytest.mark.parametrize("model", ["qwen2_vl_2b", "qwen2_5_vl_3b"])
def test_device_mode_run_config_composes_with_the_paper_work(model, tmp_path):
    from vrft.bench.workload import compose

    spec, _ = parse(["--device", "cuda", "--model", model])
    cfg = compose(spec, tmp_path, [f"model.path={tmp_path}"])
    a, t = cfg.algo, cfg.trainer
    assert (a.prompts_per_step, a.prompts_per_batch, a.num_generations) == (16, 4, 8)
    assert cfg.rollout.sampling.max_new_tokens == 256 and cfg.task.synthetic["image_size"] == 448
    assert (t.accelerator, t.precision, cfg.model.dtype, cfg.model.name) == (
        "gpu",
        "bf16-mixed",
        "bfloat16",
        model,
    )
