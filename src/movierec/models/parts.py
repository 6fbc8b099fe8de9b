"""Nested models inside one model (hybrid, blends), saved by the base-class mechanism.

A composite keeps each fitted part's learned attributes on itself as ``<label>__<attr>``
(plus ``sub_attrs_ = {label: [attr, ...]}``), so :meth:`Recommender.save` stores them like
any other learned array; after loading, :func:`restore_parts` rebuilds the live parts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from movierec.models.base import Recommender

SHARED = {"data_", "items_catalog_"}  # shared with the composite, saved once


def store_parts(owner: Recommender, parts: Mapping[str, Recommender]) -> None:
    """Copy each fitted part's learned attributes onto ``owner`` as ``<label>__<attr>``.

    Sets ``owner.sub_attrs_ = {label: [attr, ...]}`` (same layout as ``Hybrid``) and keeps
    the live models in ``owner._parts``.
    """
    sub_attrs: dict[str, list[str]] = {}
    for label, model in parts.items():
        names = [
            k for k in vars(model) if k.endswith("_") and not k.startswith("_") and k not in SHARED
        ]
        sub_attrs[label] = names
        for k in names:
            setattr(owner, f"{label}__{k}", getattr(model, k))
    owner.sub_attrs_ = sub_attrs  # type: ignore[attr-defined]
    owner._parts = dict(parts)  # type: ignore[attr-defined]


def restore_parts(
    owner: Recommender, build: Callable[[], dict[str, Recommender]]
) -> dict[str, Recommender]:
    """The fitted parts of ``owner``; rebuilt from ``<label>__<attr>`` after loading."""
    owner._check_fitted()
    parts: dict[str, Recommender] | None = getattr(owner, "_parts", None)
    if parts is None:
        built = build()
        parts = {}
        for label, names in owner.sub_attrs_.items():  # type: ignore[attr-defined]
            model = built[label]
            model.data_ = owner.data_
            model.items_catalog_ = owner.items_catalog_
            for k in names:
                setattr(model, k, getattr(owner, f"{label}__{k}"))
            parts[label] = model
        owner._parts = parts  # type: ignore[attr-defined]
    return parts


def warm_up_parts(owner: Recommender, build: Callable[[], dict[str, Recommender]]) -> None:
    """:meth:`Recommender.warm_up` of each fitted part of ``owner`` (a composite's own)."""
    for part in restore_parts(owner, build).values():
        part.warm_up()
