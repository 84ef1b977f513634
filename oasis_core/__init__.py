"""oasis_core: the OASIS model library (networks, noise, losses, label spaces, checkpoints, inference, CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oasis-studio")
except PackageNotFoundError:  # running from a source tree that was not installed, or frozen
    __version__ = "0.1.0"
