"""Why a movie is recommended: one explanation chain for every door (:class:`Explainer`),
over co-rating statistics of the training data (:class:`CoRatings`)."""

from movierec.explain.chain import Explainer, generic_reason
from movierec.explain.corating import CoRatings, stars

__all__ = ["CoRatings", "Explainer", "generic_reason", "stars"]
