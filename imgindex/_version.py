"""The version of imgindex, defined here only (``pyproject.toml`` reads it; nothing imports the package for it)."""

__version__ = "0.1.0"
