"""The config a run folder was started with, kept, and compared when the run is resumed.

The first life of a run writes its whole typed config to `<run>/run_config.json` and copies Hydra's
`.hydra/{config,overrides}.yaml` to `.hydra/first/`. `resume=true` compares the new config with the kept one and
refuses, naming each key with both values, when a key that changes results differs (seed, lr, generations, model,
data, max_steps, ...): a resumed run would otherwise end as neither config. Keys that cannot change the trained
weights may differ (`FREE`: where files go, loggers, console progress, checkpoint cadence, `resume` itself).
`resume_allow=[KEY,...]` accepts the named changes on purpose; a key added since the run began counts as its earlier
behaviour (`ADDED`), and a key the kept config lacks that is null now (an option added since, such as
`reward.functions.<name>.fn`) is no change. Hydra rewrites `.hydra/` at every start; a resumed life's files are moved
to `.hydra/resume-<step>/` and the first life's put back, so `.hydra/config.yaml` stays the config the run began with.
Left out: runs started before this file existed (nothing to compare; the current config is kept from then on).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vrft.checkpointing.layout import write_text_atomic
from vrft.errors import ConfigError

FILE = "run_config.json"
ADDED = {"prompt.think": "on"}
"""Keys added after runs were started, with the value that reproduces those runs: a kept config without the key
reads as having that value, so such a run still resumes."""
FREE = (
    "resume",
    "resume_allow",
    "paths",
    "logger",
    "progress",
    "checkpoint",
    "save_final_model",
    "experiment",
    "sweep",
)
HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")


def flatten(tree, prefix: str = "") -> dict[str, object]:
    """Dotted key -> leaf value of nested dicts (lists and empty dicts are leaves)."""
    if isinstance(tree, dict) and tree:
        out: dict[str, object] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: tree}


def changed_keys(first: dict, now: dict, allow=()) -> list[str]:
    """'key (old -> new)' for each dotted key whose value differs, except `FREE` keys and the `allow`ed ones (a
    key allows every key below it)."""
    a, b, skip = flatten(first), flatten(now), (*FREE, *allow)
    out = []
    for key in sorted(set(a) | set(b)):
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        old, new = a.get(key, ADDED.get(key, "<absent>")), b.get(key, "<absent>")
        if old != new and not (old == "<absent>" and new is None):  # a key added since, at its null default
            out.append(f"{key} ({old!r} -> {new!r})")
    return out


def keep_or_check(
    run_dir: Path, config: dict, resume_step: int | None, allow=(), *, writer: bool = True
) -> None:
    """First life: keep `config` (and Hydra's files). Resume: refuse a config that changes results, put the first
    life's Hydra files back. `writer` is False on every rank but 0 (they only compare)."""
    run_dir = Path(run_dir)
    kept = run_dir / FILE
    plain = json.loads(json.dumps(config, default=str))  # what the file holds: comparable as read back
    if resume_step is not None and kept.is_file():
        first = json.loads(kept.read_text(encoding="utf-8"))
        changed = changed_keys(first, plain, allow)
        if changed:
            raise ConfigError(
                f"resume=true with a config that differs from the one {run_dir} began with (in {kept}): "
                f"{'; '.join(changed)}; resume with the same config, or accept the change with "
                f"resume_allow=[{','.join(c.split(' ')[0] for c in changed)}]"
            )
    if not writer:
        return
    hydra, first_copy = run_dir / ".hydra", run_dir / ".hydra" / "first"
    if resume_step is None or not kept.is_file():
        write_text_atomic(kept, json.dumps(plain, indent=1, sort_keys=True))
        if hydra.is_dir():
            copy_hydra(hydra, first_copy)
    elif first_copy.is_dir():
        copy_hydra(hydra, hydra / f"resume-{resume_step:08d}")
        copy_hydra(first_copy, hydra)


def copy_hydra(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in HYDRA_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
