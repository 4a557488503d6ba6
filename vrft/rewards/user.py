"""A user's own reward, given by import path: `reward.functions.<name>.fn=mypkg.rewards.mine`.

`resolve(key, path)` imports `mypkg.rewards` (or `mypkg.rewards:mine`) and returns `mine`, checked to be a callable
with TRL's reward signature `fn(completions, **kwargs) -> list[float | None]` (the keyword arguments are the dataset
columns: solution, kind, meta, progress, and the reward's `kwargs`); every failure is one `ConfigError` naming the
key. `with_user_rewards` adds such rewards to a reward set under their config names, so they are scored, weighted
and logged (`train/reward/<name>`) as the built-ins are. Written with importlib rather than Hydra's `get_method`,
whose failures log several lines besides the exception. Left out: installing the user's package (it must be
importable: its folder on PYTHONPATH or the working directory) and checking what the function returns (a wrong
length stops the step with the reward's name).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping

from vrft.errors import ConfigError
from vrft.registry import Registry

SIGNATURE = "fn(completions, **kwargs) -> list[float | None]"


def resolve(key: str, path: str) -> Callable:
    """The callable `path` names ("pkg.module.fn" or "pkg.module:fn"); `key` is the config key for errors."""
    module_name, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    where = f"{key}={path}"
    if not (module_name and sep and attr):
        raise ConfigError(
            f"{where}: not an import path; write package.module.function (or package.module:function)"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # a missing module, or the user's module failing as it imports
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(
            f"{where}: cannot import {module_name} ({type(err).__name__}: {reason}); put its folder on PYTHONPATH "
            "or install it"
        ) from None
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise ConfigError(f"{where}: {module_name} has no attribute {attr!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ConfigError(f"{where}: is a {type(fn).__name__}, not a reward function {SIGNATURE}")
    check_signature(where, fn)
    return fn


def check_signature(where: str, fn: Callable) -> None:
    """TRL passes every dataset column as a keyword, so a reward must take `**kwargs` after the completions."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: take it as it is
        return
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if not positional or not any(p.kind is p.VAR_KEYWORD for p in params):
        raise ConfigError(f"{where}: takes ({', '.join(map(str, params))}); a reward must be {SIGNATURE}")


def with_user_rewards(rewards: Registry, user: Mapping[str, Callable]) -> Registry:
    """A registry of `rewards`' entries and the `user` ones (name -> function); a user name that is a built-in's
    is refused (the Registry's duplicate check)."""
    if not user:
        return rewards
    out = Registry(rewards.kind)
    out.update(rewards)
    for name, fn in user.items():
        out.register(name)(fn)
    return out
