"""The Python entry points a data scientist can guess (``import movierec as mr``).

>>> data = mr.load("ml-100k", source="ml-100k.zip")      # any release in the registry
>>> model = mr.make_model("svd").fit(data)
>>> model.recommend(1, n=10)                              # (movie ids, scores), MovieLens ids
>>> model.predict(1, 50)                                  # 4.31…
>>> mr.recommend(model, 1, n=5)                           # a table with titles and reasons
>>> mr.fold_in(model, {50: 5, 172: 4.5, 181: 4})          # someone new, no retraining
>>> mr.evaluate("ml100k-u1", ["svd", "user-knn"], source="ml-100k.zip")

Everything takes and returns MovieLens ids; nothing here is needed by the command line, so
``import movierec`` stays light (this module loads on first use).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from movierec.interactions import Dataset, Interactions, ItemCatalog
from movierec.models.base import Recommender
from movierec.models.registry import make_model


def load(
    dataset: str = "ml-100k",
    source: str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Load a release into memory.

    Args:
        dataset: a name from ``movierec datasets``.
        source: the release's zip or extracted folder; default: ``MOVIEREC_SOURCE``, else the
            copy installed under ``home`` (``movierec download``), else it is downloaded into
            ``home`` first.
        home: working directory (``MOVIEREC_HOME``, default the current directory).

    Raises:
        ConfigError: an unknown release. DataError / DownloadError: no usable data.
    """
    from movierec import steps
    from movierec.data.archive import local_release
    from movierec.data.datasets import get_dataset
    from movierec.data.releases import load_release
    from movierec.pipeline_config import PipelineConfig

    cfg = PipelineConfig.from_settings(
        dataset=dataset, home=home, source=None if source is None else str(source)
    )
    spec = get_dataset(cfg.dataset)
    if cfg.source is not None and not str(cfg.source).startswith(("http://", "https://")):
        with local_release(spec, cfg.source) as folder:
            ratings, movies = load_release(spec, folder)
    else:
        folder = steps.download(cfg)  # verified; nothing fetched when already installed
        ratings, movies = load_release(spec, folder)
    catalog = ItemCatalog.from_frame(movies[["movieId", "title", "year", "genres"]])
    interactions = Interactions.from_frame(ratings, rating_scale=spec.rating_scale)
    return Dataset(spec.name, ratings, catalog, interactions)


def recommend(model: Recommender, user_id: int, n: int = 10) -> pd.DataFrame:
    """A known user's top-``n`` unseen movies with titles, predicted ratings and reasons.

    Returns:
        Frame ``rank, movieId, title, year, genres, predictedRating, score, explanation``.
    """
    from movierec.topn import TopN

    return _frame(TopN(model).for_user(int(user_id), n))


def fold_in(model: Recommender, ratings: Mapping[int, float], n: int = 10) -> pd.DataFrame:
    """Top-``n`` for someone outside the training data, from ``{movieId: rating}``, without
    retraining (the model's fold-in, else item-neighbourhood scoring). Movies the model was
    not trained on cannot inform it and are ignored (``frame.attrs["ignored"]``).

    Returns:
        Frame as :func:`recommend`; ``attrs["method"]`` says how it was scored.
    """
    from movierec.topn import TopN

    result = TopN(model).for_ratings({int(m): float(r) for m, r in ratings.items()}, n)
    frame = _frame(result.recommendations)
    frame.attrs.update(method=result.method, ignored=result.ignored)
    return frame


def evaluate(
    protocol: str,
    models: str | Sequence[str],
    *,
    dataset: str | None = None,
    source: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    k: int = 10,
    seed: int = 42,
    seeds: Sequence[int] | None = None,
    tune: bool = False,
    trials: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    min_user_ratings: int | None = None,
    min_item_ratings: int | None = None,
    jobs: int = 1,
    write: bool = False,
) -> pd.DataFrame:
    """Fit and score ``models`` on every fold of ``protocol`` (``movierec evaluate``).

    Args:
        protocol: ``ml100k-u1`` … ``ml100k-5fold``, ``stratified-75-25``, ``random-kfold``,
            ``temporal``, ``temporal-last1`` (see ``movierec evaluate --help``).
        models: names, or ``"all"``.
        dataset / source / home: the release and where its files are (as :func:`load`).
        k: list length of the @K metrics.
        seed: seed of random protocols (and of the tuner).
        seeds: several split seeds: every figure becomes a mean ± sd over seeds × folds.
        tune: nested tuning on a carve of each run's training part (``--tune``); ``trials``
            per model and run.
        params: ``{model: {param: value}}`` (held fixed when tuning).
        min_user_ratings / min_item_ratings: filter the ratings before splitting.
        jobs: runs evaluated in parallel processes (0: one per core; a script that uses
            more than one needs the ``if __name__ == "__main__":`` guard of ``spawn``).
        write: also write ``reports/<protocol>/`` under ``home``.

    Returns:
        The leaderboard, best first: one row per model, ``<metric>_mean`` / ``<metric>_std``
        (sample std over folds) of every metric, and the mean fit / predict times.
    """
    from movierec.evaluation.runner import evaluate as run
    from movierec.pipeline_config import PipelineConfig

    cfg = PipelineConfig.from_settings(dataset=dataset, home=home)
    board = run(
        protocol,
        models,
        data_dir=source if source is not None else cfg.source,
        layout=cfg.layout,
        dataset=cfg.dataset,
        k=k,
        seed=seed,
        seeds=seeds,
        tune=tune,
        n_trials=trials,
        params=params,
        min_user_ratings=min_user_ratings,
        min_item_ratings=min_item_ratings,
        jobs=jobs,
        write=write,
    )
    return board.sorted_summary()


def _frame(recs: Sequence[Any]) -> pd.DataFrame:
    columns = ["rank", "movieId", "title", "year", "genres", "predictedRating", "score",
               "explanation"]  # fmt: skip
    return pd.DataFrame([r.to_dict() for r in recs], columns=columns)


__all__ = [
    "Dataset",
    "evaluate",
    "fold_in",
    "load",
    "make_model",
    "recommend",
]
