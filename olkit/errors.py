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


class NotebookExecutionError(OlkitError):
    """A notebook of the series failed under ``olkit run``: names the notebook, the cell and the partial output.

    Attributes ``notebook`` (stem), ``output`` (the partial executed notebook), ``cell`` (execution count of the
    failing cell, or None), ``cell_index``, ``code_cell`` (its number among the source notebook's code cells), ``source`` (its first code line), ``ename`` and ``evalue``.
    """

    def __init__(self, message: str, **info: object) -> None:
        super().__init__(message)
        self.notebook = info.get("notebook")
        self.output = info.get("output")
        self.cell = info.get("cell")
        self.cell_index = info.get("cell_index")
        self.code_cell = info.get("code_cell")
        self.source = info.get("source")
        self.ename = info.get("ename")
        self.evalue = info.get("evalue")


class DataExistsError(OlkitError, FileExistsError):
    """A data set is already on disk and would be replaced; the message names it and how to replace it."""


class ReadOnlyDataError(OlkitError, PermissionError):
    """A data root olkit did not make: olkit reads it and never writes into it (the message names a way out)."""


class LabelStoreLockedError(OlkitError):
    """The label database stayed locked by another writer after retries; the message names the store and the fix."""
