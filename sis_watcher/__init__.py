"""sis-watcher: from an SIS export's drop folder to Canvas's SIS Imports API, and back to disk."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sis-watcher")
except PackageNotFoundError:  # pragma: no cover - only when run from a source tree not installed
    __version__ = "0+unknown"
