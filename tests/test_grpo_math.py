"""GRPO math against plain-loop references: advantages, group stats, policy loss (values and gradients),
log-probs, entropy and the completion mask."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from vrft.grpo import (
    KL_ESTIMATORS,
    LOSS_AGGREGATIONS,
    frac_zero_std_groups,
    group_advantages,
    nonzero_std_groups,
    policy_loss,
)
from vrft.registry import RegistryError
from vrft.rollout.batching import completion_mask
from vrft.rollout.logprobs import selective_log_softmax, token_entropy

D = torch.float64

# ---------------------------------------------------------------- advantages


def loop_advantages(rewards: list[float], g: int, scale: str, eps: float) -> list[float]:
    out = []
    batch_std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    for start in range(0, len(rewards), g):
        group = rewards[start : start + g]
        mean = sum(group) / g
        std = statistics.stdev(group) if g > 1 else 0.0
        for r in group:
            if scale == "group":
                out.append((r - mean) / (std + eps))
            elif scale == "batch":
                out.append((r - mean) / (batch_std + eps))
            else:
                out.append(r - mean)
    return out


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize(("b", "g"), [(3, 4), (2, 8), (5, 1), (1, 2)])
def test_group_advantages_match_loop(scale, b, g):
    gen = torch.Generator().manual_seed(b * 10 + g)
    rewards = torch.rand(b * g, generator=gen, dtype=D) * 3
    rewards[:g] = 1.5  # one group with all rewards equal
    got = group_advantages(rewards, g, scale=scale, eps=1e-4)
    want = torch.tensor(loop_advantages(rewards.tolist(), g, scale, 1e-4), dtype=D)
    assert got.shape == (b * g,)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_group_advantages_use_unbiased_std():
    # rewards 0 and 1: unbiased std = 0.7071, population std = 0.5
    adv = group_advantages(torch.tensor([0.0, 1.0], dtype=D), 2, eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([-0.5, 0.5], dtype=D) / math.sqrt(0.5))


@pytest.mark.parametrize(
    ("n", "g", "scale", "match"),
    [(7, 2, "group", "multiple of group_size"), (4, 0, "group", "group_size"), (4, 2, "global", "scale")],
)
def test_group_advantages_reject_bad_input(n, g, scale, match):
    with pytest.raises(ValueError, match=match):
        group_advantages(torch.zeros(n), g, scale=scale)


@pytest.mark.parametrize("atol", [0.0, 0.15])
def test_zero_std_fraction_and_nonzero_std_match_loop(atol):
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.5, 0.4, 0.2, 0.3, 2.0, 2.0, 2.0, 2.0])
    g = 4
    groups = [rewards[i : i + g].tolist() for i in range(0, len(rewards), g)]
    want_nonzero = [max(grp) - min(grp) > atol for grp in groups]
    assert nonzero_std_groups(rewards, g, atol=atol).tolist() == want_nonzero
    frac = frac_zero_std_groups(rewards, g)
    assert frac == pytest.approx(sum(max(x) == min(x) for x in groups) / len(groups))


def test_a_group_of_one_has_zero_std():
    assert frac_zero_std_groups(torch.tensor([1.0, 2.0]), 1) == 1.0


# ---------------------------------------------------------------- policy loss


def loop_policy_loss(lp, old, ref, adv, mask, beta, el, eh, loss_type, max_len, kl):
    """Token by token with 0-d tensors, so autograd gives the reference gradient too."""
    n, t = lp.shape
    seq_sums, seq_counts, kls, clips, ratios = [], [], [], [], []
    for i in range(n):
        total, count = lp.new_zeros(()), 0
        for j in range(t):
            if mask[i, j] == 0:
                continue
            ratio = torch.exp(lp[i, j] - old[i, j])
            bounded = min(max(ratio, torch.tensor(1 - el, dtype=D)), torch.tensor(1 + eh, dtype=D))
            unclipped, clipped = ratio * adv[i], bounded * adv[i]
            token = -(unclipped if unclipped <= clipped else clipped)
            clips.append(float((ratio < 1 - el and adv[i] < 0) or (ratio > 1 + eh and adv[i] > 0)))
            ratios.append(ratio.item())
            if beta != 0:
                d = ref[i, j] - lp[i, j]
                k = {"k1": -d, "k2": d * d / 2, "k3": torch.exp(d) - d - 1}[kl]
                kls.append(k.item())
                token = token + beta * k
            total, count = total + token, count + 1
        seq_sums.append(total)
        seq_counts.append(count)
    if loss_type == "grpo":
        loss = sum(s / max(c, 1) for s, c in zip(seq_sums, seq_counts, strict=True)) / n
    elif loss_type in ("dapo", "bnpo"):
        loss = sum(seq_sums) / max(sum(seq_counts), 1)
    else:
        loss = sum(seq_sums) / (n * (max_len or t))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return loss, {"kl": mean(kls), "clip_fraction": mean(clips), "ratio_mean": mean(ratios)}


def make_inputs(seed: int, n: int = 6, t: int = 5, drift: float = 0.5):
    gen = torch.Generator().manual_seed(seed)
    lp = (-torch.rand(n, t, generator=gen, dtype=D) * 3).requires_grad_()
    old = lp.detach() + drift * torch.randn(n, t, generator=gen, dtype=D)
    ref = lp.detach() + 0.3 * torch.randn(n, t, generator=gen, dtype=D)
    adv = torch.randn(n, generator=gen, dtype=D)
    mask = (torch.rand(n, t, generator=gen) < 0.7).long()
    mask[0] = 0  # a sequence with no tokens
    mask[1] = 1  # a full sequence
    return lp, old, ref, adv, mask


CASES = [
    # loss_type, kl, beta, drift (0.5: clipping active; 0.02: inactive), max_completion_length
    ("grpo", "k3", 0.04, 0.5, None),
    ("grpo", "k1", 0.1, 0.02, None),
    ("grpo", "k2", 0.0, 0.5, None),
    ("dapo", "k3", 0.04, 0.5, None),
    ("dapo", "k2", 0.1, 0.02, None),
    ("bnpo", "k1", 0.04, 0.5, None),
    ("dr_grpo", "k3", 0.04, 0.5, 8),
    ("dr_grpo", "k1", 0.0, 0.02, None),
]


@pytest.mark.parametrize(("loss_type", "kl", "beta", "drift", "max_len"), CASES)
@pytest.mark.parametrize("eps", [(0.2, 0.2), (0.2, 0.28)])
def test_policy_loss_matches_loop(loss_type, kl, beta, drift, max_len, eps):
    lp, old, ref, adv, mask = make_inputs(seed=len(loss_type) + int(beta * 100), drift=drift)
    el, eh = eps
    got, metrics = policy_loss(
        lp, old, ref if beta else None, adv, mask, beta=beta, epsilon_low=el, epsilon_high=eh,
        loss_type=loss_type, max_completion_length=max_len, kl=kl, return_metrics=True,
    )  # fmt: skip
    want, want_metrics = loop_policy_loss(lp, old, ref, adv, mask, beta, el, eh, loss_type, max_len, kl)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    (g_got,) = torch.autograd.grad(got, lp)
    (g_want,) = torch.autograd.grad(want, lp)
    torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)
    assert metrics == pytest.approx(want_metrics, rel=1e-9, abs=1e-12)
    assert (metrics["clip_fraction"] > 0) == (drift > 0.1)  # the case exercises what it claims
    assert torch.all(g_got[0] == 0)  # the empty sequence gets no gradient and causes no NaN


def test_policy_loss_equals_paper_single_update_loss():
    lp, _, ref, adv, mask = make_inputs(seed=3)
    mask[0] = 1  # the paper's code divides by the token count unguarded
    beta = 0.04
    got = policy_loss(lp, lp.detach(), ref, adv, mask, beta=beta, loss_type="grpo")
    d = ref - lp
    per_token = -(torch.exp(lp - lp.detach()) * adv.unsqueeze(1) - beta * (torch.exp(d) - d - 1))
    paper = ((per_token * mask).sum(dim=1) / mask.sum(dim=1)).mean()
    torch.testing.assert_close(got, paper, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(got, lp)[0], torch.autograd.grad(paper, lp)[0])
    assert policy_loss(lp, None, ref, adv, mask, beta=beta).item() == pytest.approx(got.item(), rel=1e-12)


def test_policy_loss_all_masked_is_zero_not_nan():
    lp, old, ref, adv, mask = make_inputs(seed=4)
    for loss_type in LOSS_AGGREGATIONS:
        loss, metrics = policy_loss(
            lp, old, ref, adv, torch.zeros_like(mask), beta=0.04, loss_type=loss_type, return_metrics=True
        )
        assert loss.item() == 0.0
        assert metrics == {"kl": 0.0, "clip_fraction": 0.0, "ratio_mean": 0.0}


def test_policy_loss_registries_and_errors():
    assert {"grpo", "dapo", "dr_grpo", "bnpo"} <= set(LOSS_AGGREGATIONS)
    assert set(KL_ESTIMATORS) == {"k1", "k2", "k3"}
    lp, old, ref, adv, mask = make_inputs(seed=5)
    with pytest.raises(RegistryError, match="valid: bnpo, dapo, dr_grpo, grpo"):
        policy_loss(lp, old, ref, adv, mask, beta=0.0, loss_type="ppo")
    with pytest.raises(RegistryError, match="valid: k1, k2, k3"):
        policy_loss(lp, old, ref, adv, mask, beta=0.0, kl="k4")
    with pytest.raises(ValueError, match="ref_logps is required"):
        policy_loss(lp, old, None, adv, mask, beta=0.04)
    with pytest.raises(ValueError, match="mask has shape"):
        policy_loss(lp, old, ref, adv, mask[:, :-1], beta=0.04)
    with pytest.raises(ValueError, match="advantages has shape"):
        policy_loss(lp, old, ref, adv[:-1], mask, beta=0.04)


# ---------------------------------------------------------------- log-probs, entropy, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_selective_log_softmax_equals_log_softmax_gather(dtype):
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, 6, 50, generator=gen) * 4).to(dtype).requires_grad_()
    index = torch.randint(0, 50, (4, 6), generator=gen)
    got = selective_log_softmax(logits, index)
    want = torch.log_softmax(logits.float() if dtype == torch.bfloat16 else logits, -1)
    want = want.gather(-1, index.unsqueeze(-1)).squeeze(-1)
    assert got.shape == (4, 6) and got.dtype == want.dtype
    torch.testing.assert_close(got, want)
    weights = torch.randn(4, 6, generator=gen, dtype=got.dtype)
    (g_got,) = torch.autograd.grad((got * weights).sum(), logits)
    (g_want,) = torch.autograd.grad((want * weights).sum(), logits)
    torch.testing.assert_close(g_got, g_want)


def test_selective_log_softmax_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must be"):
        selective_log_softmax(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))


@pytest.mark.parametrize("chunk_size", [1, 5, 128])
def test_token_entropy_matches_loop(chunk_size):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 7, generator=gen, dtype=D) * 2
    got = token_entropy(logits, chunk_size=chunk_size)
    want = torch.zeros(3, 4, dtype=D)
    for i in range(3):
        for j in range(4):
            probs = torch.softmax(logits[i, j], -1).tolist()
            want[i, j] = -sum(p * math.log(p) for p in probs)
    torch.testing.assert_close(got, want)


def loop_completion_mask(ids: list[list[int]], eos: set[int]) -> list[list[int]]:
    out = []
    for row in ids:
        seen, m = False, []
        for tok in row:
            m.append(0 if seen else 1)
            seen = seen or tok in eos
        out.append(m)
    return out


@pytest.mark.parametrize(
    ("ids", "eos", "want"),
    [
        ([[5, 6, 7]], 9, [[1, 1, 1]]),  # no EOS: truncated, all tokens count
        ([[9, 6, 7]], 9, [[1, 0, 0]]),  # EOS first
        ([[5, 6, 9]], 9, [[1, 1, 1]]),  # EOS last
        ([[5, 9, 9, 9]], 9, [[1, 1, 0, 0]]),  # EOS then padding with the same id
        ([[5, 9, 4, 9, 2]], 9, [[1, 1, 0, 0, 0]]),  # only the first EOS counts
        ([[5, 3, 4], [8, 1, 1]], [3, 8], [[1, 1, 0], [1, 0, 0]]),  # several EOS ids
    ],
)
def test_completion_mask_cases(ids, eos, want):
    got = completion_mask(torch.tensor(ids), eos)
    assert got.dtype == torch.long
    assert got.tolist() == want


def test_completion_mask_matches_loop_on_random_ids():
    ids = torch.randint(0, 6, (20, 9), generator=torch.Generator().manual_seed(2))
    assert completion_mask(ids, 0).tolist() == loop_completion_mask(ids.tolist(), {0})
    assert completion_mask(ids, [0, 1]).tolist() == loop_completion_mask(ids.tolist(), {0, 1})


def test_fused_adamw_is_the_foreach_update_to_rounding():
    """`algo.adam_fused` (HF's default adamw_torch_fused) makes the update the paper's stack made with adamw_torch:
    from the same gradients the weights agree to float rounding, step after step."""
    torch.manual_seed(0)
    fused = [torch.nn.Parameter(torch.randn(384, 1024) * 0.02) for _ in range(2)]
    plain = [torch.nn.Parameter(p.detach().clone()) for p in fused]
    start = [p.detach().clone() for p in fused]
    opts = [torch.optim.AdamW(fused, lr=1e-4, fused=True), torch.optim.AdamW(plain, lr=1e-4, foreach=True)]
    for _ in range(5):
        grads = [torch.randn_like(p) * 1e-3 for p in fused]
        for params, opt in zip((fused, plain), opts, strict=True):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            opt.step()
    for a, b, s in zip(fused, plain, start, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), atol=1e-8, rtol=0)
        assert float((a.detach() - s).abs().max()) > 1e-5  # 5 steps of lr 1e-4 moved every weight tensor


@pytest.mark.parametrize(("fused", "expected"), [(True, True), (False, None)])
def test_policy_optimizer_follows_adam_fused(fused, expected):
    """`algo.adam_fused` reaches the optimizer the module builds (None: torch's own foreach pick)."""
    import dataclasses

    from vrft.config import AlgoCfg
    from vrft.policy_module import PolicyModule

    module = PolicyModule(
        torch.nn.Linear(4, 2), dataclasses.replace(AlgoCfg(), adam_fused=fused), max_steps=3
    )
    opt = module.configure_optimizers()["optimizer"]
    assert opt.defaults["fused"] is expected
