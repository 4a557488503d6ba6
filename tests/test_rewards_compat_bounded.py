"""The compat monitor `math_verify` cannot stall training: it runs only under reward.compat=official (on request
of the caller), skips long completions and uses short math_verify timeouts; hardened training never calls it."""

from __future__ import annotations

import time

import pytest

from tests.test_rewards_compat import DET_SOL, ROWS, needs_math_verify, wrap


def test_hardened_monitors_never_call_math_verify(monkeypatch):
    import vrft.rewards.official.differences as differences
    from vrft.rewards.monitors import hack_monitors

    calls = []
    monkeypatch.setattr(differences, "math_verify_passes", lambda *a, **k: calls.append(a) or True)
    m = hack_monitors([wrap("$10^{10^{10}}$")] * 4, [DET_SOL] * 4, compat=True)  # hardened + compat_monitors
    assert not calls and "compat/math_verify" not in m and "compat/any" in m


def test_official_monitor_skips_long_completions_and_bounds_time(monkeypatch):
    import vrft.rewards.official.differences as differences
    from vrft.rewards.monitors import hack_monitors

    seen = []
    monkeypatch.setattr(
        differences, "math_verify_passes", lambda t, s, timeout_s=None: seen.append(timeout_s)
    )
    long = wrap("$" + "\\frac{1}{" * 2000 + "2" + "}" * 2000 + "$")
    m = hack_monitors([long, wrap("x")], [DET_SOL] * 2, compat=True, math_verify=True)
    assert "compat/math_verify" in m and seen == [differences.MV_TIMEOUT_S]  # the long one is not checked


@needs_math_verify
def test_official_monitor_on_a_costly_answer_is_quick():
    from vrft.rewards.official.differences import compat_monitors

    costly = wrap(
        "$" + "\\frac{1}{" * 150 + "2" + "}" * 150 + "$"
    )  # under MV_MAX_CHARS: parsed, with timeouts
    t0 = time.perf_counter()
    compat_monitors([costly], [DET_SOL], math_verify=True)
    assert time.perf_counter() - t0 < 3 * 1 + 2  # three bounded calls of at most 1 s each, plus slack


@needs_math_verify
def test_the_math_verify_row_is_still_detected_when_requested():
    from vrft.rewards.official.differences import compat_monitors

    _, completion, solution, _, _ = ROWS["math_verify"]
    assert compat_monitors([completion], [solution], math_verify=True)["compat/math_verify"] == 1.0
    assert "compat/math_verify" not in compat_monitors([completion], [solution], math_verify=False)


def test_build_rewards_requests_it_under_official_only(tmp_path, cache_dir):
    from tests.conftest import compose_run
    from vrft.assemble import build_rewards

    pytest.importorskip("math_verify")
    hardened = build_rewards(compose_run(["reward.compat_monitors=true"], tmp_path, cache_dir))
    official = build_rewards(compose_run(["reward.compat=official"], tmp_path, cache_dir))
    assert (hardened.compat_monitors, hardened.math_verify_monitor) == (True, False)
    assert (official.compat_monitors, official.math_verify_monitor) == (True, True)
