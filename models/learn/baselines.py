"""Baselines the model must beat, fitted on each fold's training slice and scored on its test slice.

Every baseline returns probabilities of shape (n_test, 3) in class order down/flat/up, row-aligned
with the test slice, so it is scored on exactly the model's samples (:mod:`models.evaluation.metrics`).
Nothing is learned from the test slice; the only test-slice information used is labels whose
window had already ended at the decision (label persistence), which a live system would know too.

===================== =========================================================================
name                  what it predicts for a test sample
===================== =========================================================================
class_prior           the training class frequencies (add-one smoothed)
majority_class        the most frequent training class, as a hard 0/1 vector: compared on
                      accuracy-type metrics only (its log-loss would only measure the zeros)
label_persistence     P(class | last known label of the ticker) from training transition counts
                      (add-one smoothed; the prior when no label is known yet). The last known
                      label at decision ``t`` is the most recent one whose window ended by ``t``
                      (``label_end <= t``), never the label of ``t - 1``, which ends in the future
logistic_regression   multinomial logistic regression on the latest features (median imputation
                      and standardisation fitted on training rows)
gradient_boosting     ``HistGradientBoostingClassifier`` on ``lags`` days of features (small and
                      regularised: 50 trees of depth 3, no early stopping, ``seed``)
momentum              P(class | state of the past return) from training counts (add-one smoothed),
                      state = down / flat / up of the return over the last ``horizon`` days against
                      ``±momentum_band`` (default: the training terciles of that return)
===================== =========================================================================

Lagged features and past returns restart at every segment start (:mod:`features.segments`): a row
after a gap in a ticker's history gets NaN lags, as the panel's features do, never the pre-gap values.

Each baseline is an estimator (:class:`Baseline`: ``fit(train) -> self``, ``predict_proba(test)``),
found by name in :data:`BASELINE_CLASSES`. The scikit-learn ones (logistic regression, gradient
boosting) take per-sample training weights, ``fit(train, sample_weight=...)`` (e.g. the average
uniqueness of :func:`models.learn.training.uniqueness_weights`); the counting ones ignore them. Build
the inputs from a panel with :meth:`BaselineData.from_panel` and slice them with
:meth:`BaselineData.take`, using the same rows as the fold's training and test samples.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from features.segments import Segments
from models.learn.cores import idle_cores

if TYPE_CHECKING:
    from features.dataset import Panel

N_CLASSES = 3


@dataclass(frozen=True)
class BaselineData:
    """Row-aligned inputs of the baselines for one slice of samples (n rows).

    Attributes:
        dates: datetime64[ns] (n,), decision dates.
        tickers: object/str (n,), symbols.
        labels: int (n,), classes 0/1/2; -1 where unknown (the baselines never read test labels
            except through ``label_end`` for persistence).
        label_end: datetime64[ns] (n,), the close the label window ends on (NaT when unknown).
        X_last: float64 (n, n_features), raw features at the decision date.
        X_lagged: float64 (n, n_features * lags), features at t, t-1, ..., t-lags+1 of the same
            segment (NaN before the segment's first row).
        past_return: float64 (n,), simple return over the last ``horizon`` days up to the close of
            t (known at the decision), NaN when unknown or when those days cross a segment start.
    """

    dates: np.ndarray
    tickers: np.ndarray
    labels: np.ndarray
    label_end: np.ndarray
    X_last: np.ndarray
    X_lagged: np.ndarray
    past_return: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.dates)
        for f in fields(self):
            value = getattr(self, f.name)
            if len(value) != n:
                raise ValueError(f"BaselineData.{f.name} must have {n} rows like dates, got {len(value)}")
        if self.X_last.ndim != 2 or self.X_lagged.ndim != 2:
            raise ValueError(f"X_last and X_lagged must be 2-d, got {self.X_last.shape} and {self.X_lagged.shape}")

    def __len__(self) -> int:
        return len(self.dates)

    def take(self, rows: np.ndarray) -> BaselineData:
        """The rows at positions ``rows`` (a new object)."""
        idx = np.asarray(rows, dtype="int64")
        return BaselineData(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: Sequence[BaselineData]) -> BaselineData:
        """Stack slices (e.g. train and test) into one."""
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    @classmethod
    def from_panel(
        cls, panel: Panel, *, adj_close: np.ndarray, lags: int = 5, past_horizon: int | None = None
    ) -> BaselineData:
        """Inputs for every panel row (slice them with :meth:`take` using sample rows).

        Args:
            panel: built by :func:`features.dataset.build_panel` (rows sorted by ticker, date).
            adj_close: float (n_rows,), the prices' ``adj_close``, row-aligned with the panel.
            lags: days of features stacked for the gradient-boosting baseline.
            past_horizon: days of the momentum return; None = the label horizon.
        """
        tickers = panel.keys["ticker"].astype(str).to_numpy()
        horizon = panel.config.label.horizon if past_horizon is None else past_horizon
        segments = Segments.of(panel.keys, max_gap=panel.config.max_gap).codes
        return cls(
            dates=panel.keys["date"].to_numpy(dtype="datetime64[ns]"),
            tickers=tickers,
            labels=np.asarray(panel.label, dtype="int64"),
            label_end=np.asarray(panel.label_end, dtype="datetime64[ns]"),
            X_last=np.asarray(panel.X, dtype="float64"),
            X_lagged=lagged_features(panel.X, segments, lags=lags),
            past_return=past_returns(adj_close, segments, horizon=horizon),
        )


def _shift_within(values: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """``values`` of the row ``k`` positions earlier in the same contiguous group; NaN across groups."""
    out = np.full(values.shape, np.nan)
    if k < len(values):
        same = groups[k:] == groups[: len(groups) - k]
        out[k:][same] = values[: len(values) - k][same]
    return out


def lagged_features(X: np.ndarray, groups: np.ndarray, *, lags: int) -> np.ndarray:
    """Stack features of t, t-1, ..., t-lags+1 of the same group (rows sorted by ticker, date).

    Args:
        X: float (n_rows, n_features).
        groups: (n_rows,) contiguous group ids: segment codes (:attr:`features.segments.Segments.codes`,
            what :meth:`BaselineData.from_panel` passes) or tickers.
        lags: days stacked (>= 1).

    Returns:
        float64 (n_rows, n_features * lags), lag-major (the first n_features columns are day t);
        NaN where a lag reaches before the group's first row.
    """
    if lags < 1:
        raise ValueError(f"lags must be >= 1, got lags={lags}")
    X = np.asarray(X, dtype="float64")
    return np.hstack([_shift_within(X, np.asarray(groups), k) for k in range(lags)])


def past_returns(adj_close: np.ndarray, groups: np.ndarray, *, horizon: int) -> np.ndarray:
    """Simple return from the close ``horizon`` rows earlier to the close of t, per group (rows sorted).

    Args:
        adj_close: float (n_rows,).
        groups: (n_rows,) contiguous group ids: segment codes or tickers (see :func:`lagged_features`).
        horizon: rows back (>= 1).

    Returns:
        float64 (n_rows,), a fraction; NaN for the first ``horizon`` rows of each group.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got horizon={horizon}")
    price = np.asarray(adj_close, dtype="float64")
    return np.asarray(price / _shift_within(price, np.asarray(groups), horizon) - 1.0)


def _counts_to_probs(counts: np.ndarray) -> np.ndarray:
    return np.asarray(counts / counts.sum(axis=-1, keepdims=True))


def _train_labels(train: BaselineData) -> np.ndarray:
    y = np.asarray(train.labels, dtype="int64")
    if len(y) == 0 or (y < 0).any() or (y >= N_CLASSES).any():
        raise ValueError("train.labels must be non-empty classes 0/1/2 (training samples are labeled)")
    return y


def last_known_labels(history: BaselineData, tickers: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """For each query (ticker, date), the latest label of that ticker whose window ended by that date.

    Args:
        history: labelled rows to look in (unknown labels, -1 or NaT end, are ignored).
        tickers: query symbols (m,).
        dates: query decision dates (m,).

    Returns:
        int64 (m,): the class 0/1/2, or -1 when no label of the ticker had ended by the date.
    """
    ends = np.asarray(history.label_end, dtype="datetime64[ns]")
    labels = np.asarray(history.labels)
    known = (labels >= 0) & ~np.isnat(ends)
    q_dates = np.asarray(dates, dtype="datetime64[ns]")
    q_tickers = np.asarray(tickers)
    # One sort of the known history by (ticker, end), ties in row order, instead of a scan of the
    # whole history per ticker: the answer is the last entry of the query's ticker ending by its date.
    codes, symbols = pd.factorize(np.concatenate([history.tickers[known], q_tickers]))
    h_codes, q_codes = codes[: int(known.sum())], codes[int(known.sum()) :]
    h_ends, h_labels = ends[known].view("int64"), labels[known].astype("int64")
    order = np.lexsort((h_ends, h_codes))  # stable: equal (ticker, end) keep their row order
    h_codes, h_ends, h_labels = h_codes[order], h_ends[order], h_labels[order]
    first = np.searchsorted(h_codes, np.arange(len(symbols) + 1), side="left")
    out = np.full(len(q_dates), -1, dtype="int64")
    q_order = np.argsort(q_codes, kind="stable")
    q_first = np.searchsorted(q_codes[q_order], np.arange(len(symbols) + 1), side="left")
    for code in np.flatnonzero(np.diff(first) > 0):
        lo, hi = first[code], first[code + 1]
        q = q_order[q_first[code] : q_first[code + 1]]
        if len(q) == 0:
            continue
        pos = np.searchsorted(h_ends[lo:hi], q_dates[q].view("int64"), side="right") - 1
        out[q] = np.where(pos >= 0, h_labels[lo:hi][np.maximum(pos, 0)], -1)
    return out


def _conditional(states_train: np.ndarray, y: np.ndarray, states_test: np.ndarray, n_states: int) -> np.ndarray:
    """Add-one smoothed P(class | state) from training; rows with state -1 get the smoothed prior."""
    counts = np.ones((n_states, N_CLASSES))
    ok = states_train >= 0
    np.add.at(counts, (states_train[ok], y[ok]), 1.0)
    table = _counts_to_probs(counts)
    prior = _counts_to_probs(np.bincount(y, minlength=N_CLASSES) + 1.0)
    return np.where((states_test >= 0)[:, None], table[np.maximum(states_test, 0)], prior)


def _align(proba: np.ndarray, classes: np.ndarray, n_train: int) -> np.ndarray:
    """Columns of a fitted classifier to classes 0/1/2; a class absent from training gets 1/(n+3)."""
    out = np.full((len(proba), N_CLASSES), 1.0 / (n_train + N_CLASSES))
    out[:, np.asarray(classes, dtype="int64")] = proba
    return _counts_to_probs(out)


def momentum_states(past_return: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """0 (down) below ``lower``, 2 (up) above ``upper``, 1 (flat) between; -1 where NaN."""
    r = np.asarray(past_return, dtype="float64")
    out = np.where(r < lower, 0, np.where(r > upper, 2, 1)).astype("int64")
    out[~np.isfinite(r)] = -1
    return out


class Baseline:
    """A baseline with the estimator contract: settings in ``__init__``, ``fit`` returns ``self``,
    learned state in attributes ending in ``_``, ``predict_proba`` refuses to run unfitted.

    ``fit(train, history=...)``: ``history`` holds rows whose labels may be known at decision time
    (only :class:`LabelPersistence` reads it). ``predict_proba(test)`` returns float64 (len(test), 3).
    """

    name: ClassVar[str]

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        raise NotImplementedError

    def predict_proba(self, test: BaselineData) -> np.ndarray:
        raise NotImplementedError

    def _fitted(self, attribute: str) -> Any:
        if not hasattr(self, attribute):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet (no {attribute}); call fit() first")
        return getattr(self, attribute)


class ClassPrior(Baseline):
    """Training class frequencies, add-one smoothed, for every test row."""

    name = "class_prior"

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        self.prior_ = _counts_to_probs(np.bincount(_train_labels(train), minlength=N_CLASSES) + 1.0)
        return self

    def predict_proba(self, test: BaselineData) -> np.ndarray:
        return np.tile(self._fitted("prior_"), (len(test), 1))


class MajorityClass(Baseline):
    """One-hot of the most frequent training class (ties: the lowest code), for every test row."""

    name = "majority_class"

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        self.majority_ = int(np.bincount(_train_labels(train), minlength=N_CLASSES).argmax())
        return self

    def predict_proba(self, test: BaselineData) -> np.ndarray:
        return np.tile(np.eye(N_CLASSES)[self._fitted("majority_")], (len(test), 1))


class LabelPersistence(Baseline):
    """P(class | last known label), transition counts from the training rows.

    ``fit(train, history=...)``: rows whose labels may be known at decision time; None = train and
    test together (a test label counts only once its window has ended, so this is not look-ahead).
    Pass every labelled panel row to also use the purged rows just before the test block.
    """

    name = "label_persistence"

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        self.train_, self.labels_, self.history_ = train, _train_labels(train), history
        return self

    def predict_proba(self, test: BaselineData) -> np.ndarray:
        train = self._fitted("train_")
        hist = BaselineData.concat([train, test]) if self.history_ is None else self.history_
        prev_train = last_known_labels(hist, train.tickers, train.dates)
        prev_test = last_known_labels(hist, test.tickers, test.dates)
        return _conditional(prev_train, self.labels_, prev_test, N_CLASSES)


class _SklearnBaseline(Baseline):
    """A scikit-learn classifier on one feature matrix of :class:`BaselineData`; the prior for one class."""

    def _features(self, data: BaselineData) -> np.ndarray:
        raise NotImplementedError

    def _learner(self) -> Any:
        raise NotImplementedError

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        y = _train_labels(train)
        self.n_train_ = len(y)
        if len(np.unique(y)) < 2:  # one class only: nothing to discriminate, the prior it is
            self.learner_: Any = ClassPrior().fit(train)
            return self
        self.learner_ = self._learner()
        with self._limits():
            self.learner_.fit(self._features(train), y, **self._weight_arg(sample_weight, len(y)))
        return self

    def _weight_arg(self, sample_weight: np.ndarray | None, n: int) -> dict[str, np.ndarray]:
        """The keyword that passes ``sample_weight`` to the learner's ``fit`` (none when unweighted)."""
        if sample_weight is None:
            return {}
        w = np.asarray(sample_weight, dtype="float64")
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"sample_weight must be {n} finite weights >= 0, got shape {w.shape}")
        return {"sample_weight": w}

    def predict_proba(self, test: BaselineData) -> np.ndarray:
        learner = self._fitted("learner_")
        if isinstance(learner, ClassPrior):
            return learner.predict_proba(test)
        with self._limits():
            proba = learner.predict_proba(self._features(test))
        return _align(proba, learner.classes_, self.n_train_)

    def _limits(self) -> Any:
        return contextlib.nullcontext()


class LogisticRegressionBaseline(_SklearnBaseline):
    """Multinomial logistic regression (L2, ``C=c``) on standardised latest features (median imputation)."""

    name = "logistic_regression"

    def __init__(self, *, seed: int = 0, c: float = 1.0) -> None:
        self.seed, self.c = seed, c

    def _features(self, data: BaselineData) -> np.ndarray:
        return data.X_last

    def _weight_arg(self, sample_weight: np.ndarray | None, n: int) -> dict[str, np.ndarray]:
        return {f"logisticregression__{k}": v for k, v in super()._weight_arg(sample_weight, n).items()}

    def _learner(self) -> Any:
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=self.c, max_iter=2000, random_state=self.seed),
        )


PARALLEL_ROWS = 50_000
"""Training rows from which ``threads="auto"`` fits the gradient-boosting baseline on the idle cores."""


class GradientBoostingBaseline(_SklearnBaseline):
    """Histogram gradient boosting on lagged features; NaN handled natively; no early stopping.

    Small and shallow on purpose (50 trees of depth 3, at least 100 samples a leaf): a baseline that
    generalises on a few thousand samples and fits in well under a second. Its probabilities were
    the same to the bit with 1, 2 and 4 threads (scikit-learn 1.x builds each feature's histogram
    in one thread; ``tests/models/learn/test_baselines.py`` checks 1 against 2), so ``threads``
    changes only the speed.

    Args:
        seed: ``random_state`` of the learner.
        threads: OpenMP threads while fitting and predicting: ``"auto"`` (the default: one thread
            below :data:`PARALLEL_ROWS` training rows, from there on as many as
            :func:`models.learn.cores.idle_cores` finds when the fit starts), a number, or None (the library's
            default, every core). Measured with ``python -m benchmarks --only baselines``: on idle
            2 cores every core is 1.5-1.9x faster from 10,000 rows on; on cores that other work
            keeps busy (another block of a ``dask:2`` or ``threads:2`` backtest, someone's test
            suite) it was 0.20-0.59x, because OpenMP threads that wait for a busy core cost more
            than they share. Hence: the cores that are idle now, one when none is.
    """

    name = "gradient_boosting"

    def __init__(self, *, seed: int = 0, threads: int | Literal["auto"] | None = "auto") -> None:
        self.seed, self.threads = seed, threads

    def _features(self, data: BaselineData) -> np.ndarray:
        return data.X_lagged

    def _learner(self) -> Any:
        return HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=50, max_depth=3, min_samples_leaf=100,
            l2_regularization=1.0, early_stopping=False, random_state=self.seed,
        )  # fmt: skip

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        if self.threads == "auto":
            self.threads_: int | None = 1 if len(train) < PARALLEL_ROWS else idle_cores()
        else:
            self.threads_ = self.threads
        return super().fit(train, history=history, sample_weight=sample_weight)

    def _limits(self) -> Any:
        return threadpool_limits(limits=self._fitted("threads_"), user_api="openmp")


class Momentum(Baseline):
    """P(class | down/flat/up state of the past return), from training counts.

    Args:
        momentum_band: states at ``±band`` (a fraction, e.g. the label band); None = the training
            terciles of the past return.
    """

    name = "momentum"

    def __init__(self, *, momentum_band: float | None = None) -> None:
        self.momentum_band = momentum_band

    def fit(
        self, train: BaselineData, *, history: BaselineData | None = None, sample_weight: np.ndarray | None = None
    ) -> Self:
        y = _train_labels(train)
        r = np.asarray(train.past_return, dtype="float64")
        if self.momentum_band is not None:
            lower, upper = -self.momentum_band, self.momentum_band
        elif np.isfinite(r).sum() >= N_CLASSES:
            lower, upper = (float(v) for v in np.quantile(r[np.isfinite(r)], [1 / 3, 2 / 3]))
        else:
            lower, upper = 0.0, 0.0
        self.bounds_ = (lower, upper)
        self.states_, self.labels_ = momentum_states(r, lower, upper), y
        return self

    def predict_proba(self, test: BaselineData) -> np.ndarray:
        lower, upper = self._fitted("bounds_")
        return _conditional(self.states_, self.labels_, momentum_states(test.past_return, lower, upper), N_CLASSES)


_IN_REPORT_ORDER: tuple[type[Baseline], ...] = (
    ClassPrior, MajorityClass, LabelPersistence, LogisticRegressionBaseline, GradientBoostingBaseline, Momentum,
)  # fmt: skip
BASELINE_CLASSES: dict[str, type[Baseline]] = {cls.name: cls for cls in _IN_REPORT_ORDER}
"""Every baseline by name, in report order."""
BASELINES: tuple[str, ...] = tuple(BASELINE_CLASSES)


def make_baseline(name: str, **options: Any) -> Baseline:
    """A new, unfitted baseline ``name`` with those ``options`` its class takes (others are ignored).

    Raises:
        ValueError: naming the baselines there are, for an unknown ``name``.
    """
    if name not in BASELINE_CLASSES:
        raise ValueError(f"name must be a baseline from {list(BASELINE_CLASSES)}, got name={name!r}")
    cls = BASELINE_CLASSES[name]
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in options.items() if k in accepted})


def class_prior(train: BaselineData, test: BaselineData) -> np.ndarray:
    """:class:`ClassPrior` fitted on ``train``, predicting ``test``."""
    return ClassPrior().fit(train).predict_proba(test)


def majority_class(train: BaselineData, test: BaselineData) -> np.ndarray:
    """:class:`MajorityClass` fitted on ``train``, predicting ``test``."""
    return MajorityClass().fit(train).predict_proba(test)


def label_persistence(train: BaselineData, test: BaselineData, *, history: BaselineData | None = None) -> np.ndarray:
    """:class:`LabelPersistence` fitted on ``train`` (and ``history``), predicting ``test``."""
    return LabelPersistence().fit(train, history=history).predict_proba(test)


def logistic_regression(train: BaselineData, test: BaselineData, *, seed: int = 0, c: float = 1.0) -> np.ndarray:
    """:class:`LogisticRegressionBaseline` fitted on ``train``, predicting ``test``."""
    return LogisticRegressionBaseline(seed=seed, c=c).fit(train).predict_proba(test)


def gradient_boosting(
    train: BaselineData, test: BaselineData, *, seed: int = 0, threads: int | Literal["auto"] | None = "auto"
) -> np.ndarray:
    """:class:`GradientBoostingBaseline` fitted on ``train``, predicting ``test``."""
    return GradientBoostingBaseline(seed=seed, threads=threads).fit(train).predict_proba(test)


def momentum(train: BaselineData, test: BaselineData, *, band: float | None = None) -> np.ndarray:
    """:class:`Momentum` fitted on ``train``, predicting ``test``."""
    return Momentum(momentum_band=band).fit(train).predict_proba(test)


def fit_baselines(
    train: BaselineData,
    test: BaselineData,
    *,
    seed: int = 0,
    names: Sequence[str] = BASELINES,
    history: BaselineData | None = None,
    momentum_band: float | None = None,
    threads: int | Literal["auto"] | None = "auto",
    sample_weight: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit the named baselines (:data:`BASELINE_CLASSES`) on ``train`` and predict ``test``.

    Args:
        train: the fold's training samples (labeled).
        test: the fold's test samples, row-aligned with the model's predictions.
        seed: seed of the randomised learners.
        names: which baselines, from :data:`BASELINES`.
        history: rows whose labels may be known at decision time (see :class:`LabelPersistence`).
        momentum_band: see :class:`Momentum`.
        threads: see :class:`GradientBoostingBaseline`.
        sample_weight: float (len(train),) training weights for the baselines that take them (None = equal).

    Returns:
        name -> float64 (len(test), 3) probabilities, rows summing to 1, class order down/flat/up.
    """
    unknown = [n for n in names if n not in BASELINE_CLASSES]
    if unknown:
        raise ValueError(f"names must be baselines from {list(BASELINES)}, got {list(names)}")
    options = {"seed": seed, "momentum_band": momentum_band, "threads": threads}
    return {
        n: make_baseline(n, **options).fit(train, history=history, sample_weight=sample_weight).predict_proba(test)
        for n in names
    }


def stack_folds(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-fold baseline dicts (in fold order) into one dict row-aligned with stitched predictions."""
    if not parts:
        return {}
    return {name: np.vstack([p[name] for p in parts]) for name in parts[0]}
