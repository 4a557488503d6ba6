"""Scale settings: every trainer config composes, and one this machine cannot run fails at start with one clear line
(no GPU, no deepspeed, no vllm); bf16 / fp32 by config train on a CPU; activation checkpointing reaches the vision
tower and leaves gradients unchanged; SDPA is the default attention; a frozen vision tower is counted out of the
trainable parameters and stays unchanged; the vLLM engine (untested on GPU) against a stand-in `vllm` module."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from tests.conftest import compose_run, register_test_reward
from vrft.config import TrainerCfg
from vrft.errors import ConfigError
from vrft.paths import CONF_DIR
from vrft.runtime.backends import check_trainer_backend

torch.set_num_threads(1)

FAST = [
    register_test_reward(),  # a dense reward: one step always has a policy gradient
    "experiment=smoke",
    "logger=none",
    "trainer.max_steps=1",
    "runtime.num_threads=1",
    "eval.before=false",
    "eval.max_samples=2",
    "save_final_model=false",
    "logger.log_samples_every_n_steps=0",
    "rollout.sampling.max_new_tokens=8",
]
TRAINER_CONFIGS = sorted(p.stem for p in (CONF_DIR / "trainer").glob("*.yaml"))


@pytest.mark.parametrize("name", TRAINER_CONFIGS)
def test_every_trainer_config_composes(tmp_path, cache_dir, name):
    import yaml

    cfg = compose_run([f"trainer={name}", "logger=none"], tmp_path, cache_dir)
    own = yaml.safe_load((CONF_DIR / "trainer" / f"{name}.yaml").read_text())
    for key in ("accelerator", "strategy", "precision", "devices"):
        if key in own:
            assert getattr(cfg.trainer, key) == own[key], key


BACKENDS = [
    # (trainer fields, cuda visible, deepspeed installed, expected error fragment or None)
    ({}, False, False, None),
    ({"precision": "bf16-mixed"}, False, False, None),
    ({"accelerator": "gpu", "precision": "bf16-mixed"}, False, False, "no CUDA GPU is visible"),
    ({"accelerator": "gpu", "precision": "bf16-mixed"}, True, False, None),
    ({"accelerator": "gpu", "strategy": "ddp", "devices": -1}, False, False, "no CUDA GPU is visible"),
    ({"accelerator": "cpu", "strategy": "ddp", "devices": 2}, False, False, None),
    ({"accelerator": "gpu", "strategy": "fsdp"}, False, False, "no CUDA GPU is visible"),
    ({"accelerator": "gpu", "strategy": "deepspeed_stage_3"}, True, False, "pip install deepspeed"),
    ({"accelerator": "gpu", "strategy": "deepspeed_stage_3"}, True, True, None),
    ({"accelerator": "cpu", "strategy": "deepspeed_stage_2"}, False, True, "runs on GPUs only"),
    ({"precision": "16-mixed"}, False, False, "fp16) needs a GPU"),
]


@pytest.mark.parametrize("fields,cuda,deepspeed,error", BACKENDS)
def test_backend_check(fields, cuda, deepspeed, error):
    t = TrainerCfg(**fields)
    probes = dict(cuda=lambda: cuda, package=lambda name: deepspeed and name == "deepspeed")
    if error is None:
        check_trainer_backend(t, **probes)
        return
    with pytest.raises(ConfigError) as err:
        check_trainer_backend(t, **probes)
    assert error in str(err.value) and "\n" not in str(err.value)
    assert "trainer." in str(err.value)


needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@needs_no_gpu
@pytest.mark.parametrize("trainer", ["gpu", "ddp", "fsdp", "deepspeed"])
def test_gpu_configs_fail_at_start_here(tmp_path, cache_dir, monkeypatch, trainer):
    """assemble (the first step of a run) and build_trainer refuse before anything loads."""
    import vrft.assemble as assemble

    cfg = compose_run([*FAST, f"trainer={trainer}"], tmp_path, cache_dir)
    monkeypatch.setattr(
        assemble, "load_model", lambda *a, **k: pytest.fail("loaded a model before the check")
    )
    for call in (lambda: assemble.assemble(cfg), lambda: assemble.build_trainer(cfg, [], None, tmp_path)):
        with pytest.raises(ConfigError) as err:
            call()
        assert "\n" not in str(err.value) and "trainer." in str(err.value)


def test_vllm_missing_fails_clearly(tmp_path, cache_dir, monkeypatch):
    if "vllm" not in sys.modules:
        monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError, installed or not
    import vrft.assemble as assemble
    from vrft.rollout.engines import ROLLOUTS
    from vrft.rollout.sampling import Tokens
    from vrft.rollout.spec import RolloutSpec

    with pytest.raises(ConfigError, match="pip install vllm"):
        ROLLOUTS.get("vllm")(RolloutSpec(engine="vllm"), Tokens(eos_ids=[1], pad_id=0, suppress_ids=[]))
    cfg = compose_run([*FAST, "rollout=vllm"], tmp_path, cache_dir)
    monkeypatch.setattr(
        assemble, "load_model", lambda *a, **k: pytest.fail("loaded a model before the check")
    )
    with pytest.raises(ConfigError, match="rollout=vllm needs the vllm package"):
        assemble.assemble(cfg)


def fit_one_step(cfg):
    from vrft.assemble import assemble

    parts = assemble(cfg)
    policy = parts.policy
    module = parts.module()
    before = {k: v.detach().clone() for k, v in policy.named_parameters()}
    trainer = parts.trainer()
    trainer.fit(module, datamodule=parts.datamodule())
    changed = {k for k, v in policy.named_parameters() if not torch.equal(before[k], v)}
    return module, trainer, changed


RUNS = [
    ("fp32", [], torch.float32),
    ("bf16_mixed", ["trainer.precision=bf16-mixed"], torch.float32),
    ("bf16_weights", ["model.dtype=bfloat16"], torch.bfloat16),
]


@pytest.mark.parametrize("name,extra,dtype", RUNS, ids=[r[0] for r in RUNS])
def test_precision_by_config_trains_on_cpu(tmp_path, cache_dir, name, extra, dtype):
    """model.dtype and trainer.precision on a CPU; with the vision tower frozen and activation checkpointing on."""
    from vrft.models.lora import count_parameters, is_vision_parameter

    overrides = [*FAST, *extra, "model.freeze_vision=true", "model.gradient_checkpointing=true"]
    module, trainer, changed = fit_one_step(compose_run(overrides, tmp_path, cache_dir))
    policy = module.policy
    assert trainer.global_step == 1 and module.skipped_steps == 0
    assert {p.dtype for p in policy.parameters()} == {dtype}
    counts = count_parameters(policy)
    vision = sum(p.numel() for n, p in policy.named_parameters() if is_vision_parameter(n))
    assert vision > 0 and counts["vision_trainable"] == 0 and counts["trainable"] == counts["total"] - vision
    optimized = sum(p.numel() for g in trainer.optimizers[0].param_groups for p in g["params"])
    assert optimized == counts["trainable"]
    assert changed and not any(is_vision_parameter(k) for k in changed)
    checkpointed = [
        n for n, m in policy.named_modules() if getattr(m, "gradient_checkpointing", None) is True
    ]
    assert any(".visual." in f".{n}." for n in checkpointed), "the vision tower is not checkpointed"
    assert any("language_model" in n for n in checkpointed)


def test_checkpointing_keeps_gradients_and_sdpa_is_default(tmp_path, cache_dir):
    from vrft.assemble import assemble

    cfg = compose_run([*FAST, "model.gradient_checkpointing=true"], tmp_path, cache_dir)
    parts = assemble(cfg)
    policy, processor = parts.policy, parts.processor
    assert cfg.model.attn_implementation == "sdpa"
    assert policy.config._attn_implementation == "sdpa"
    assert policy.config.vision_config._attn_implementation == "sdpa"
    from PIL import Image

    from vrft.data.collate import PromptCollator
    from vrft.rollout.logps import sequence_logps

    engine = parts.module().rollout_engine
    rows = [{"image": Image.new("RGB", (56, 56), (200, 30, 30)), "problem": "Where is it?"}]
    torch.manual_seed(0)
    r = engine(policy, PromptCollator(processor)(rows)["inputs"], 3)

    def grads():
        policy.train()
        policy.zero_grad(set_to_none=True)
        sequence_logps(policy, r)[0].sum().backward()
        return torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None])

    with_ckpt = grads()
    policy.gradient_checkpointing_disable()
    without = grads()
    assert ((with_ckpt - without).norm() / without.norm()) < 1e-4


class FakeLLM:
    """A stand-in for `vllm.LLM`: records calls; answers with fixed completions; holds a model with load_weights."""

    def __init__(self, **kwargs):
        self.kwargs, self.loaded, self.calls = kwargs, [], []
        self.model = types.SimpleNamespace(load_weights=lambda w: self.loaded.append([n for n, _ in w]))
        runner = types.SimpleNamespace(model=self.model)
        self.llm_engine = types.SimpleNamespace(
            model_executor=types.SimpleNamespace(driver_worker=types.SimpleNamespace(model_runner=runner))
        )

    def sleep(self, level=1):
        self.calls.append("sleep")

    def wake_up(self, tags=None):
        self.calls.append("wake_up")

    def reset_prefix_cache(self):
        self.calls.append("reset_prefix_cache")

    def generate(self, prompts, sampling_params=None, use_tqdm=False):
        self.prompts, self.params = prompts, sampling_params
        outs = []
        for _ in prompts:
            completions = [
                types.SimpleNamespace(token_ids=[7] * (2 + j), finish_reason="stop", stop_reason=None)
                for j in range(sampling_params["n"])
            ]
            outs.append(types.SimpleNamespace(prompt_token_ids=self.expected.pop(0), outputs=completions))
        return outs


def test_vllm_engine_against_a_stand_in(cache_dir, monkeypatch):
    from PIL import Image

    from vrft.data.collate import PromptCollator
    from vrft.models import TINY, LoraSpec, ModelSpec, apply_lora, load_model
    from vrft.rollout.sampling import generation_tokens
    from vrft.rollout.spec import RolloutSpec, SamplingSpec
    from vrft.rollout.vllm import IMAGE_PAD, VLLMRollout, prompt_ids

    fake = types.SimpleNamespace(LLM=FakeLLM, SamplingParams=lambda **kw: kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    model, processor = load_model(ModelSpec(name="tiny", max_pixels=50176, tiny=TINY), cache_dir)
    policy = apply_lora(model, LoraSpec(enabled=True, r=4, target_modules=("q_proj",)))
    tokens = generation_tokens(model, processor.tokenizer)
    rows = [{"image": Image.new("RGB", (56 * k, 56), (9, 9, 9)), "problem": "Box it."} for k in (1, 2)]
    batch = PromptCollator(processor)(rows)
    sampling = SamplingSpec(temperature=0.7, top_p=0.9, top_k=0, max_new_tokens=5)
    engine = VLLMRollout(RolloutSpec(engine="vllm", sampling=sampling), tokens, processor)
    ids = prompt_ids(batch["inputs"])

    def call():
        FakeLLM.expected = [list(x) for x in ids]
        return engine(policy, batch["inputs"], 3, images=batch["images"])

    FakeLLM.expected = []
    r = call()
    llm = engine.llm
    assert llm.kwargs["model"] == str(model.name_or_path) and llm.kwargs["enable_sleep_mode"]
    assert llm.kwargs["mm_processor_kwargs"] == {"min_pixels": 3136, "max_pixels": 50176}
    p = llm.params
    assert (p["n"], p["temperature"], p["top_p"], p["top_k"], p["max_tokens"]) == (3, 0.7, 0.9, -1, 5)
    assert p["stop_token_ids"] == tokens.eos_ids and set(p["logit_bias"]) == set(tokens.suppress_ids)
    for prompt, row in zip(llm.prompts, batch["images"], strict=True):
        assert prompt["prompt"].count(IMAGE_PAD) == 1 and prompt["multi_modal_data"]["image"] is row
    names = llm.loaded[0]
    assert names and not any("lora_" in n or "base_layer" in n or n.startswith("base_model") for n in names)
    assert "lm_head.weight" in names or any(n.endswith("embed_tokens.weight") for n in names)
    assert r.num_sequences == 6 and r.completion_ids.shape[1] == 5  # 4 tokens + the stop token, right-padded
    assert r.completion_mask.sum(1).tolist() == [3, 4, 5] * 2 and not r.truncated.any()
    call()
    assert len(llm.loaded) == 1, "weights pushed again without an update"
    engine.after_update(policy)
    call()
    assert len(llm.loaded) == 2 and llm.calls.count("reset_prefix_cache") == 2
    FakeLLM.expected = [ids[0][:-1], ids[1]]
    with pytest.raises(RuntimeError, match="image placeholder expansion differs"):
        engine(policy, batch["inputs"], 3, images=batch["images"])
