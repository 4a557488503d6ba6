"""The console of a run: every line printed once, no third-party advertising or known deprecation noise.

`quiet_console()`, called by the entry points once Lightning is imported:
- removes the stream handlers Lightning adds to its own loggers ("lightning", and "lightning.pytorch" where the
  root logger had none at import) when the root logger has handlers (Hydra's console and log file), so each
  Lightning line is printed once, by the root logger, in the run's format;
- drops Lightning's "💡 Tip" lines (litlogger, litmodels);
- ignores torch's "`isinstance(treespec, LeafSpec)` is deprecated" FutureWarning, raised inside Lightning's
  `_pytree` helpers, by that exact message only;
- keeps a record logged with `extra={"console": False}` out of the console handlers (it still reaches the log
  file): the entry point prints its one error line on stderr itself;
- when stderr is not a terminal and transformers is loaded, turns off its weight loading/writing bars (a log would
  get one unreadable line of carriage returns per load or save).
It imports nothing heavy (the entry points call it before torch loads, and again once Lightning and transformers
are loaded). Left out: the training progress display (vrft.logging.progress).
"""

from __future__ import annotations

import logging
import sys
import warnings

TIP = "💡 Tip"
RANK_ZERO_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_utilities.core.rank_zero",
)
PYTREE_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"


def drop_tips(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(TIP)


def console_wanted(record: logging.LogRecord) -> bool:
    return getattr(record, "console", True) is not False


def is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def quiet_console() -> None:
    """See the module doc; safe to call more than once."""
    root = logging.getLogger()
    if root.handlers:
        for name in ("lightning", "lightning.pytorch"):
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if is_console(h)]:
                logger.removeHandler(handler)
            logger.propagate = True
        for handler in root.handlers:
            if is_console(handler) and console_wanted not in handler.filters:
                handler.addFilter(console_wanted)
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if drop_tips not in logger.filters:
            logger.addFilter(drop_tips)
    warnings.filterwarnings("ignore", message=PYTREE_WARNING, category=FutureWarning)
    if "transformers" in sys.modules and not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
