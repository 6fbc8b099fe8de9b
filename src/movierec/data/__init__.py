"""The data steps: download -> convert -> ingest -> transform (one plain function each).

- :mod:`movierec.data.datasets`: the registry of MovieLens releases (every release fact).
- :mod:`movierec.data.ml100k` / :mod:`movierec.data.releases`: the readers
  (``load_release`` reads any registered release).
- :mod:`movierec.data.archive`: safe zip extraction; a release from a local zip or folder.
- :mod:`movierec.data.download`: ``download(layout, source)``: fetch, extract safely, verify.
- :mod:`movierec.data.convert`: ``convert(layout)``: release files -> ratings.csv/movies.csv.
- :mod:`movierec.data.ingest`: ``ingest(layout)``: typed loading, validation, merge.
- :mod:`movierec.data.transform`: ``transform(ratings, ...)``, ``write_clean(frame, layout)``.
- :mod:`movierec.data.synthetic` / :mod:`movierec.data.synth`: synthetic datasets in the
  ml-100k and ml-25m formats.

Submodules are imported on demand (nothing is re-exported here) to keep CLI start-up fast.
"""
