"""Where W&B writes and whether it talks to the server: the `auto` mode rule and the run-folder directories.

`resolve_mode("auto")` is online when a W&B login is configured (WANDB_API_KEY, or an api key in the netrc file
for the W&B host) and offline otherwise; an explicit WANDB_MODE in the environment wins over `auto`.
`point_wandb_dirs(run_dir)` sends W&B's cache, data (staged media) and config folders into the run folder, so
nothing lands in the user's home and offline media stay beside the run until `wandb sync`. Variables the user set
before vrft started are left alone. Left out: logging in, and checking that a key is valid (no network here).
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

MODES = ("auto", "online", "offline", "disabled")
DIR_VARS = ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR")
_USER_SET = {name: os.environ.get(name) for name in DIR_VARS}  # the user's own choices, read once at import


def wandb_host(env: Mapping[str, str] | None = None) -> str:
    """The API host a login is looked up for (WANDB_BASE_URL, default api.wandb.ai)."""
    env = os.environ if env is None else env
    return urlparse(env.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"


def netrc_has_key(path: Path | None = None, host: str = "api.wandb.ai") -> bool:
    """True when the netrc file (NETRC, else ~/.netrc) holds a password for `host`; a broken file counts as none."""
    if path is None:
        path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        auth = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def login_configured(env: Mapping[str, str] | None = None, netrc_path: Path | None = None) -> bool:
    """True when W&B could log in without asking: WANDB_API_KEY is set or the netrc file has a key."""
    env = os.environ if env is None else env
    if env.get("WANDB_API_KEY"):
        return True
    return netrc_has_key(netrc_path, wandb_host(env))


def resolve_mode(mode: str, env: Mapping[str, str] | None = None, netrc_path: Path | None = None) -> str:
    """online | offline | disabled for a configured mode (auto | online | offline | disabled)."""
    if mode not in MODES:
        raise ValueError(f"logger.mode={mode!r} is invalid: must be one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    env = os.environ if env is None else env
    forced = (env.get("WANDB_MODE") or "").lower()
    if forced in ("offline", "dryrun"):
        return "offline"
    if forced in ("online", "disabled"):
        return forced
    return "online" if login_configured(env, netrc_path) else "offline"


def point_wandb_dirs(run_dir: Path, mode: str) -> dict[str, str]:
    """Set W&B's cache/data/config folders under `<run_dir>/wandb/` unless the user set them; return what was set.

    Online runs keep the user's config folder (it may hold a server URL or other settings)."""
    base = Path(run_dir) / "wandb"
    chosen: dict[str, str] = {}
    for name, sub in zip(DIR_VARS, ("cache", "data", "config"), strict=True):
        if _USER_SET[name] or (name == "WANDB_CONFIG_DIR" and mode == "online"):
            continue
        folder = base / sub
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[name] = chosen[name] = str(folder)
    return chosen
