"""Exceptions that the entry point turns into one clear line (no stack trace).

Every error a user can cause with a config value, a file or a dataset derives from `VrftError`; its message
names the key, file or field that is wrong and what is allowed. Programming errors stay ordinary exceptions.
"""


class VrftError(Exception):
    """A user-facing error: bad config, missing or malformed data, missing model files."""


class ConfigError(VrftError):
    """A composed config value is invalid; the message names the key and what is allowed."""


class DataError(VrftError):
    """A dataset file or record is missing or malformed; the message names the file."""


class ModelError(VrftError):
    """A model folder or hub id cannot be loaded; the message says where it looked."""


class CheckpointError(VrftError):
    """A checkpoint cannot be written or read, or resuming is impossible; the message names the folder."""


class DivergedError(VrftError):
    """Training stopped after too many consecutive non-finite steps; the message names the last checkpoint."""
