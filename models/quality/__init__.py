"""P(resolved | request, model): the offline quality model.

Two stages, both fitted by :meth:`QualityTrainer.fit`:

1. **Text scorers**, one per model: a logistic regression on TF-IDF word 1–2-grams
   of the request text, a one-hot of its intent and its standardised structural text
   features, predicting whether that model resolves the request; and, on a pretrained
   text representation (:mod:`features.embeddings`), a regression per model and the
   outcomes of the nearest training requests (:mod:`~models.quality.embedded`). Inside
   ``fit`` their scores on the training rows are out-of-fold (``inner_folds``), so the
   second stage learns how far to trust them; whether it reads the representation's
   two (and the request difficulty beside them) is chosen by held-out loss.
2. **One LightGBM classifier across candidates**: one row per request × model, with
   the request's structural text features (:mod:`features.text`), prompt tokens,
   turns, intent (categorical), the model (categorical), its prices, its text
   score, and the request's difficulty learned from public outcome tables
   (:mod:`features.difficulty`). A model the training data never saw is scored
   through its prices (its model code and text score are missing). Prices alone
   would never be used while the model's identity explains everything, so training
   adds copies of a share of rows (``identity_dropout``) with the identity and text
   score hidden.

The boosted probabilities can then be **calibrated** by Platt scaling (a logistic
regression on their logit) fitted on requests held out of the boosting, the fifth that
also chooses the number of rounds. Platt's map is strictly increasing, so it never ties
two candidates as an isotonic map does (on GSM8K isotonic calibration made both the
Brier score and the routing worse). With ``calibrate="auto"`` (the default) the map is
applied only when it lowers the Brier score in a cross-fitted check on those held-out
requests: boosting with a log-loss objective is often calibrated already, and a map
fitted on a few hundred requests can then only add noise.

A request unlike every training request (its shape counts outside the range they
covered) is scored nearer each model's training success rate, as trees cannot
extrapolate (:mod:`~models.quality.familiarity`).

What serving needs is a :class:`QualityPredictor`: plain arrays, a LightGBM booster
and a JSON description, saved as files that cannot run code on load (``.npz`` without
pickles, LightGBM's text format, JSON) and checked against a SHA-256 manifest. The
trainer evaluates through the very same predictor, so the figures measured offline
are those of the model the service loads.

:class:`QualityTrainer` follows scikit-learn's estimator contract: ``__init__`` stores
parameters, ``fit`` returns ``self``, learned attributes end in ``_``.

The package: :mod:`~models.quality.layout` (the inputs and their columns),
:mod:`~models.quality.scorers` (stage 1), :mod:`~models.quality.embedded` and
:mod:`~models.quality.neighbours` (stage 1 on the representation),
:mod:`~models.quality.calibration`, :mod:`~models.quality.familiarity`,
:mod:`~models.quality.lengths` (the completion-length model),
:mod:`~models.quality.predictor` (what serving loads), :mod:`~models.quality.persistence`
(its files), :mod:`~models.quality.trainer`.
"""

from __future__ import annotations

from models.quality.calibration import binary_rows, brier_score, calibration_error
from models.quality.persistence import FORMAT
from models.quality.predictor import QualityPredictor
from models.quality.trainer import NotFittedError, QualityTrainer

__all__ = [
    "FORMAT",
    "NotFittedError",
    "QualityPredictor",
    "QualityTrainer",
    "binary_rows",
    "brier_score",
    "calibration_error",
]
