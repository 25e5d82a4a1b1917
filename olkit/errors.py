"""Errors olkit raises on bad input. Each message names the file and the fix."""

from __future__ import annotations


class OlkitError(Exception):
    """Base class of every error olkit raises deliberately."""


class DataNotFoundError(OlkitError, FileNotFoundError):
    """A data folder or file is missing; the message names the path and the command that makes it."""


class ImageReadError(OlkitError, ValueError):
    """An image file is empty, truncated, corrupt or not an image."""


class CacheMismatchError(OlkitError):
    """An embedding cache was made by another model (both fingerprints in the message)."""


class ModelMismatchError(OlkitError):
    """A saved model or classifier does not fit the data or backbone it is used with."""


class UntrustedFileError(OlkitError):
    """A persisted file holds types olkit will not load (skops trust check)."""


class UnprunableModelError(OlkitError):
    """A model topology that mask-guided filter pruning cannot handle (names the layer)."""
