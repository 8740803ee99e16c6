"""fmslab: reproducible analysis of IgG passive-transfer pain studies."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fmslab")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0+src"

__all__ = ["__version__"]
