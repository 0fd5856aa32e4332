"""Errors a user can cause and fix. The CLI prints them as one line, the GUI as a dialog."""


class GuiappError(Exception):
    """Base class for problems caused by input or environment, not by a bug in guiapp."""


class LabelError(GuiappError):
    """A label string that matches no class, or more than one."""


class ImageLoadError(GuiappError):
    """A file that cannot be read as an image we accept."""


class ModelUnavailableError(GuiappError):
    """A model whose weights cannot be found or loaded."""


class CentroidError(GuiappError):
    """A centroid file that is missing, malformed or built for other weights."""


class OutputError(GuiappError):
    """An output path we refuse to write (the input itself, a read-only folder...)."""


class MemoryLimitError(GuiappError):
    """An attack that would not fit in the memory available (guiapp.core.memory)."""


class Cancelled(GuiappError):
    """The user stopped a long job."""
