"""One exception hierarchy for every user-facing failure.

The CLI turns a :class:`MovieRecError` into a one-line message and a non-zero exit code;
the API turns it into a JSON error with :attr:`MovieRecError.http_status`.
"""

from __future__ import annotations


class MovieRecError(Exception):
    """Base class of every error a user can cause or fix."""

    exit_code: int = 1
    http_status: int = 400


class ConfigError(MovieRecError):
    """A setting, option or hyperparameter is invalid."""

    exit_code = 2
    http_status = 422


class DataError(MovieRecError):
    """Input data is missing, malformed or inconsistent."""

    exit_code = 3
    http_status = 422


class ChecksumError(DataError):
    """A downloaded or extracted file does not match its published checksum."""


class DownloadError(MovieRecError):
    """The dataset could not be fetched (network down, HTTP error, bad archive)."""

    exit_code = 4
    http_status = 502


class ModelError(MovieRecError):
    """A model file is missing, incompatible, or was trained on other data."""

    exit_code = 5
    http_status = 409


class ModelFileError(ModelError):
    """A model file is damaged (truncated, corrupted, emptied) or is not a movierec model."""

    exit_code = 7
    http_status = 503


class NotSupportedError(MovieRecError):
    """The model cannot do what was asked (e.g. ``predict`` on a ranking-only model)."""

    exit_code = 2
    http_status = 422


class UnknownIdError(MovieRecError, KeyError):
    """A MovieLens user or movie id is not in the vocabulary."""

    exit_code = 2
    http_status = 404

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return str(self.args[0]) if self.args else "unknown id"


class StoreError(MovieRecError):
    """The recommendation store is unreachable or has an incompatible schema."""

    exit_code = 6
    http_status = 503


class AuthError(MovieRecError):
    """A write came without a usable ``Authorization: Bearer <token>`` header (HTTP 401)."""

    exit_code = 2
    http_status = 401


class ForbiddenError(MovieRecError):
    """The token given is not allowed to write to this user's ratings (HTTP 403)."""

    exit_code = 2
    http_status = 403
