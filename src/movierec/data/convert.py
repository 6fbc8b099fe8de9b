"""Step 2: convert the release files into the seed's CSVs ``data/raw/ratings.csv`` and
``data/raw/movies.csv``.

- ml-100k (:mod:`movierec.data.ml100k`): ``u.data`` -> ``ratings.csv`` with columns
  ``userId,movieId,rating,timestamp``; ``u.item`` + ``u.genre`` -> ``movies.csv`` in UTF-8
  with columns ``movieId,title,year,release_date,genres,imdb_url`` (see that module for the
  rules).
- every other release (:mod:`movierec.data.releases`): ``ratings.csv`` as
  ``userId,movieId,rating,timestamp`` (``4.0``), ``movies.csv`` as
  ``movieId,title,year,genres``.

Both CSVs are parsed before either is written, and each is written atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

from movierec.config import Layout
from movierec.data.datasets import get_dataset
from movierec.data.releases import load_release, write_movies_csv, write_ratings_csv
from movierec.data.textfiles import write_csv_atomic

log = logging.getLogger("movierec")


def convert(layout: Layout) -> tuple[Path, Path]:
    """Convert ``data/raw/<dataset>/`` into ``data/raw/ratings.csv`` and ``movies.csv``.

    The release is read and validated by :func:`movierec.data.releases.load_release`
    (every format); ml-100k's frames are written as they are (ratings as integers, movies
    with ``release_date`` and ``imdb_url``), every other release's by
    :func:`~movierec.data.releases.write_ratings_csv` (``4.0``) and
    :func:`~movierec.data.releases.write_movies_csv`.

    The output paths are the same for every dataset (:class:`~movierec.config.Layout`), so
    converting another dataset in the same home overwrites the previous CSVs; a model trained
    on the old data is then refused by the fingerprint check of
    :func:`movierec.training.load_trained` until it is retrained. Use one ``--home`` per
    dataset to keep several side by side.

    Both files are parsed and validated before either is written; each write is atomic, so
    a failure leaves the previous CSVs intact.

    Returns:
        ``(layout.ratings_csv, layout.movies_csv)``.

    Raises:
        DataError: missing or malformed input (file and line named).
        DiskFullError: the disk filled up (previous CSVs kept).
    """
    spec = get_dataset(layout.dataset)
    ratings, movies = load_release(spec, layout.dataset_dir)
    if spec.format == "ml100k":
        write_csv_atomic(ratings, layout.ratings_csv)
        write_csv_atomic(movies, layout.movies_csv)
    else:
        write_ratings_csv(ratings, layout.ratings_csv)
        write_movies_csv(movies, layout.movies_csv)
    log.info("converted %d ratings and %d movies", len(ratings), len(movies))
    return layout.ratings_csv, layout.movies_csv
