"""The data steps: download -> convert -> ingest -> transform (one plain function each).

- :mod:`movierec.data.datasets`: registry of MovieLens releases (URL, checksums, format).
- :mod:`movierec.data.download`: ``download(layout, source)``: fetch, extract safely, verify.
- :mod:`movierec.data.convert`: ``convert(layout)``: u.data/u.item -> ratings.csv/movies.csv.
- :mod:`movierec.data.ingest`: ``ingest(layout)``: typed loading, validation, merge.
- :mod:`movierec.data.transform`: ``transform(ratings, ...)``, ``write_clean(frame, layout)``.
- :mod:`movierec.data.synthetic`: small synthetic datasets in the exact ml-100k format.

Submodules are imported on demand (nothing is re-exported here) to keep CLI start-up fast.
"""
