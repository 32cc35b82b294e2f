"""One model, from arrays to probabilities: configs, the LSTM builder and estimator, batches, training.

Owns the keras-free configs (:mod:`.config`), the Keras builders (:mod:`.lstm`), the ``LSTMClassifier``
estimator (:mod:`.classifier`), feeding windows to Keras (:mod:`.batches`), seeding, deterministic ops and
TensorFlow's import (:mod:`.backend`), how a fit uses its rows (:mod:`.training`), calibration and the
baseline estimators (:mod:`.baselines`). May import ``features`` and Keras; never another ``models``
package or ``flows``.
"""
