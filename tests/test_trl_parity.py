"""vrft's `policy_loss` against TRL 1.16 GRPOTrainer's own `_compute_loss` on identical per-token log-probs.

TRL's trainer is built without `__init__` (no model, no data): the attributes `_compute_loss` reads are set from a
real `GRPOConfig`, and its per-token log-prob method is replaced by one returning fixed tensors. Values and the
gradient with respect to the policy log-probs must agree within 1e-5, and so must the logged KL and clip fraction.
GSPO is TRL's `importance_sampling_level="sequence"` against vrft's same setting (`test_gspo_loss_equals_trl`).

Where TRL's definition differs, the test pins the difference:
- TRL 1.16 defaults to `use_bias_correction_kl=True`, which multiplies the per-token k3 KL by the differentiable
  importance ratio exp(logp - old_logp); vrft (and the paper) add beta * k3 unweighted. The parity cases set it to
  False; `test_trl_default_kl_is_ratio_weighted` pins TRL's default form.
- TRL divides the "grpo"/"bnpo"/"dr_grpo" loss by the gradient-accumulation steps and normalises "dapo" by the
  token count of the whole generation batch (`num_items_in_batch`) rescaled to one accumulation window; vrft
  returns the per-batch loss and leaves accumulation to the trainer. `test_trl_scales_for_gradient_accumulation`
  pins that.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch

from vrft.grpo import LOSS_AGGREGATIONS, policy_loss

pytest.importorskip(
    "trl", reason="the TRL parity tests need trl (pip install 'vrft[bench]', which make installs)"
)
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")

N, T, P = 6, 7, 3
BETA = 0.04


class _OneProcess:
    """The accelerator calls `_compute_loss` makes, for a single process."""

    num_processes = 1
    sync_gradients = True

    @staticmethod
    def gather(x):
        return x

    @staticmethod
    def reduce(x, reduction="sum"):
        return x

    gather_for_metrics = gather


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("trl"))


def make_trl_trainer(out_dir, logps, **config):
    """A GRPOTrainer with only the state `_compute_loss` reads, set as `GRPOTrainer.__init__` sets it."""
    args = GRPOConfig(output_dir=out_dir, report_to="none", use_cpu=True, **config)
    trainer = object.__new__(GRPOTrainer)
    trainer.args = args
    trainer.model = torch.nn.Linear(1, 1).train()
    trainer.accelerator = _OneProcess()
    trainer.beta = args.beta
    trainer.loss_type = args.loss_type
    trainer.epsilon_low = args.epsilon
    trainer.epsilon_high = args.epsilon_high if args.epsilon_high is not None else args.epsilon
    trainer.max_completion_length = args.max_completion_length
    trainer.importance_sampling_level = args.importance_sampling_level
    trainer.off_policy_mask_threshold = args.off_policy_mask_threshold
    trainer.top_entropy_quantile = args.top_entropy_quantile
    trainer.use_vllm = args.use_vllm
    trainer.vllm_importance_sampling_correction = args.vllm_importance_sampling_correction
    trainer.entropy_coef = args.entropy_coef
    trainer._entropy_bonus_enabled = args.entropy_coef != 0.0 or args.use_adaptive_entropy
    trainer.aux_loss_enabled = False
    trainer.current_gradient_accumulation_steps = args.gradient_accumulation_steps
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    entropies = torch.ones_like(logps)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logps, entropies, None)
    return trainer


def make_batch(seed):
    gen = torch.Generator().manual_seed(seed)
    logps = (-torch.rand(N, T, generator=gen) * 3).requires_grad_()
    old = logps.detach() + 0.4 * torch.randn(
        N, T, generator=gen
    )  # ratios outside [0.8, 1.2]: clipping active
    ref = logps.detach() + 0.3 * torch.randn(N, T, generator=gen)
    adv = torch.randn(N, generator=gen)
    mask = (torch.rand(N, T, generator=gen) < 0.75).long()
    mask[0] = 0  # a completion with no tokens
    mask[1] = 1
    return logps, old, ref, adv, mask


def trl_inputs(old, ref, adv, mask):
    return {
        "prompt_ids": torch.ones(N, P, dtype=torch.long),
        "prompt_mask": torch.ones(N, P, dtype=torch.long),
        "completion_ids": torch.ones(N, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": adv,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }


@pytest.mark.parametrize(
    ("loss_type", "epsilon_high"), [("grpo", None), ("dapo", 0.28), ("dr_grpo", None), ("bnpo", None)]
)
def test_policy_loss_equals_trl(out_dir, loss_type, epsilon_high):
    logps, old, ref, adv, mask = make_batch(seed=len(loss_type))
    trainer = make_trl_trainer(
        out_dir, logps, loss_type=loss_type, beta=BETA, epsilon=0.2, epsilon_high=epsilon_high,
        max_completion_length=T + 3, use_bias_correction_kl=False,
    )  # fmt: skip
    trl_loss = trainer._compute_loss(trainer.model, trl_inputs(old, ref, adv, mask))
    ours, metrics = policy_loss(
        logps, old, ref, adv, mask, beta=BETA, epsilon_low=0.2, epsilon_high=epsilon_high or 0.2,
        loss_type=loss_type, max_completion_length=T + 3, kl="k3", return_metrics=True,
    )  # fmt: skip
    torch.testing.assert_close(ours, trl_loss, rtol=1e-5, atol=1e-5)
    (g_trl,) = torch.autograd.grad(trl_loss, logps)
    (g_ours,) = torch.autograd.grad(ours, logps)
    torch.testing.assert_close(g_ours, g_trl, rtol=1e-5, atol=1e-5)
    logged = trainer._metrics["train"]
    assert metrics["kl"] == pytest.approx(logged["kl"][-1], abs=1e-5)
    assert metrics["clip_fraction"] == pytest.approx(logged["clip_ratio/region_mean"][-1], abs=1e-5)
    assert metrics["clip_fraction"] > 0


def test_trl_default_kl_is_ratio_weighted(out_dir):
    """TRL's default multiplies k3 by exp(logp - old_logp): same value on-policy, a different gradient."""
    logps, _, ref, adv, mask = make_batch(seed=7)
    trainer = make_trl_trainer(out_dir, logps, loss_type="grpo", beta=BETA)
    assert trainer.args.use_bias_correction_kl is True
    trl_loss = trainer._compute_loss(trainer.model, trl_inputs(logps.detach(), ref, adv, mask))
    ours = policy_loss(logps, logps.detach(), ref, adv, mask, beta=BETA, loss_type="grpo")
    torch.testing.assert_close(ours, trl_loss, rtol=1e-5, atol=1e-5)
    (g_trl,) = torch.autograd.grad(trl_loss, logps, retain_graph=True)
    (g_ours,) = torch.autograd.grad(ours, logps, retain_graph=True)
    assert not torch.allclose(g_ours, g_trl, rtol=1e-5, atol=1e-5)
    # TRL's default form, written out: -min(ratio*A, clip(ratio)*A) + beta * k3 * ratio, seq-mean aggregation.
    ratio = torch.exp(logps - logps.detach())
    d = ref - logps
    per_token = -ratio * adv.unsqueeze(1) + BETA * (torch.exp(d) - d - 1) * ratio
    pinned = LOSS_AGGREGATIONS.get("grpo")(per_token, mask.float(), None)
    torch.testing.assert_close(torch.autograd.grad(pinned, logps)[0], g_trl, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_trl_scales_for_gradient_accumulation(out_dir, loss_type):
    """With 2 accumulation steps (one generation batch per step, split in two), TRL's loss is vrft's / 2."""
    logps, old, ref, adv, mask = make_batch(seed=11)
    trainer = make_trl_trainer(
        out_dir, logps, loss_type=loss_type, beta=BETA, gradient_accumulation_steps=2,
        use_bias_correction_kl=False,
    )  # fmt: skip
    assert trainer.args.steps_per_generation == 2
    inputs = trl_inputs(old, ref, adv, mask)
    inputs["num_items_in_batch"] = 2 * mask.sum()  # the other micro-batch of the generation batch, same size
    trl_loss = trainer._compute_loss(trainer.model, inputs)
    ours = policy_loss(logps, old, ref, adv, mask, beta=BETA, loss_type=loss_type)
    torch.testing.assert_close(ours / 2, trl_loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("beta", "epsilon", "epsilon_high", "drift"),
    [(0.0, 3e-4, 4e-4, 0.1), (BETA, 3e-4, 4e-4, 0.1), (BETA, 0.2, 0.2, 1.0)],
    ids=["gspo_preset", "gspo_kl", "gspo_wide_clip"],
)
def test_gspo_loss_equals_trl(out_dir, beta, epsilon, epsilon_high, drift):
    """Sequence-level ratio and clipping (GSPO): value, gradient, KL and per-sequence clip fraction as TRL's."""
    logps, old, ref, adv, mask = make_batch(seed=13)
    # scaled drift: sequence ratios on both sides of 1, so some are clipped and some keep their gradient
    old = logps.detach() + drift * (old - logps.detach())
    trainer = make_trl_trainer(
        out_dir, logps, loss_type="grpo", beta=beta, epsilon=epsilon, epsilon_high=epsilon_high,
        importance_sampling_level="sequence", use_bias_correction_kl=False,
    )  # fmt: skip
    assert trainer.importance_sampling_level == "sequence"
    trl_loss = trainer._compute_loss(trainer.model, trl_inputs(old, ref if beta else None, adv, mask))
    ours, metrics = policy_loss(
        logps, old, ref if beta else None, adv, mask, beta=beta, epsilon_low=epsilon,
        epsilon_high=epsilon_high, loss_type="grpo", importance_sampling_level="sequence", return_metrics=True,
    )  # fmt: skip
    torch.testing.assert_close(ours, trl_loss, rtol=1e-5, atol=1e-5)
    (g_trl,) = torch.autograd.grad(trl_loss, logps)
    (g_ours,) = torch.autograd.grad(ours, logps)
    torch.testing.assert_close(g_ours, g_trl, rtol=1e-5, atol=1e-5)
    assert g_ours.abs().sum() > 0  # not every sequence is clipped
    logged = trainer._metrics["train"]
    if beta:
        assert metrics["kl"] == pytest.approx(logged["kl"][-1], abs=1e-5)
    assert metrics["clip_fraction"] == pytest.approx(logged["clip_ratio/region_mean"][-1], abs=1e-5)
    assert 0 < metrics["clip_fraction"] < 1
