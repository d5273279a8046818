"""Errors a user can act on: each message names the thing at fault and the fix."""


class TransferLensError(Exception):
    """Base class for errors whose message is meant for the user as-is."""


class DatasetError(TransferLensError):
    """A dataset cannot be loaded (missing files, empty class, bad path, ...)."""


class BackboneUnavailableError(TransferLensError):
    """A backbone's weights cannot be loaded here (offline, missing package, ...)."""


class CacheError(TransferLensError):
    """A cache entry is unreadable or inconsistent."""


class UnsafePickleError(TransferLensError):
    """A weight file asked the unpickler for something outside the allowed set."""


class CancelledError(TransferLensError):
    """Long work was stopped: its progress callback raised this (see core.base.progress)."""


class ParameterError(TransferLensError, ValueError):
    """A parameter is unknown or outside its bounds (the message names the bound). Also a
    ValueError: callers that already turned bad values into user errors keep doing so."""


class BundleError(TransferLensError):
    """A published bundle's manifest or one of its files is malformed or unsafe: the message
    names the entry at fault."""


class ResourceLimitError(TransferLensError):
    """The work would not fit in this machine's memory: the message names the estimate, the
    limit and the parameter to lower."""



class DependencyError(TransferLensError):
    """An optional package a feature needs is not installed (the message says how to add it)."""
