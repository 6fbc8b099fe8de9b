"""Parts shared by several models: hyperparameter checks (:mod:`.validation`), top-k
selection (:mod:`.topk`), new-user rating input (:mod:`.foldin`), factor-vector
similarities and reasons (:mod:`.factors`), reason wording (:mod:`.reasons`), the cold-pair
bias fallback (:mod:`.biases`) and the model file format (:mod:`.modelfile`).

Nothing here imports a model module: every model may import from here, never the reverse.
"""
