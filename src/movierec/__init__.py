"""movierec: an end-to-end movie recommendation system on MovieLens."""

__version__ = "0.1.0"

__all__ = ["__version__"]
