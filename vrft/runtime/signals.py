"""Ctrl-C (SIGINT) and SIGTERM during a run: stop after the training step in progress, with a checkpoint.

`StopOnSignal` (a context manager around a run) records the first signal. While training
(`training` set by `vrft.checkpointing.callbacks.Checkpointer`) it only asks to stop: the callback checkpoints the
step that just completed and ends the fit. Outside training (loading, evaluating) or on a second signal it
raises `KeyboardInterrupt` at once. The run then reports status "interrupted" and the entry point exits
128 + the signal number (130 for SIGINT, 143 for SIGTERM), as a shell does. Left out: other signals, and threads
other than the main one (Python delivers signals only there; elsewhere the handlers are not installed).
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A run stopped by a signal; `exit_code` is 128 + its number. A BaseException, like KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.exit_code = 128 + signum


class StopOnSignal:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.training = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if first and self.training:
            log.warning(
                "%s: stopping after this step with a checkpoint (send it again to stop at once)",
                signal.Signals(signum).name,
            )
            return
        raise KeyboardInterrupt
