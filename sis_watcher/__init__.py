"""sis-watcher: from an SIS export's drop folder to Canvas's SIS Imports API, and back to disk."""

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)
