"""The composed default config, every value as the run sees it (YAML merged onto the typed schema, interpolations
left as written), against tests/golden/default_config.yaml, so a default that changes shows in review.

After an intended change, regenerate the file with `make golden` (`python -m tests.test_golden_config`) and commit
its diff with the change."""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "default_config.yaml"
HEADER = "# The composed default config (`python -m vrft`): regenerate with `make golden`; see tests/test_golden_config.py\n"


def default_config_yaml() -> str:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from vrft.config import RunCfg
    from vrft.paths import CONF_DIR, register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config")
    merged = OmegaConf.merge(OmegaConf.structured(RunCfg), cfg)
    return HEADER + OmegaConf.to_yaml(merged, resolve=False)


def test_default_config_is_the_golden_one():
    got, want = default_config_yaml(), GOLDEN.read_text()
    if got != want:
        import difflib

        diff = "".join(
            difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "composed")
        )
        raise AssertionError(
            f"the default config changed (regenerate with `make golden` if intended):\n{diff}"
        )


def test_the_golden_file_pins_values_a_run_depends_on():
    text = GOLDEN.read_text()
    for line in ("  beta: 0.04\n", "    temperature: 1.0\n", "    max_new_tokens: 48\n", "  cpu_isa: avx2\n"):
        assert line in text, line


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(default_config_yaml())
    print(f"wrote {GOLDEN}")
