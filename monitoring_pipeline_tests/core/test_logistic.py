"""The reference retrainer's logistic regression against statsmodels, and a constructed
case where reweighting plus group intercepts beat the incumbent on a degraded group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from monitoring_pipeline.core.logistic import (
    LogisticModel,
    balanced_weights,
    choose_transform,
    fit_logistic,
    fit_logistic_model,
    log_loss,
)


def small_frame(seed: int = 3, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    eta = -0.3 + x @ np.array([1.2, -0.8, 0.4])
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return x, y


def test_unpenalised_fit_matches_statsmodels_logit():
    x, y = small_frame()
    intercept, coefficients = fit_logistic(x, y, l2=0.0)
    reference = sm.Logit(y, sm.add_constant(x)).fit(disp=0).params
    np.testing.assert_allclose([intercept, *coefficients], reference, atol=1e-5)


def test_weighted_fit_matches_statsmodels_glm_with_frequency_weights():
    x, y = small_frame(seed=5)
    weights = np.where(x[:, 0] > 0, 3.0, 1.0)
    intercept, coefficients = fit_logistic(x, y, weights=weights, l2=0.0)
    reference = (
        sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial(), freq_weights=weights)
        .fit()
        .params
    )
    np.testing.assert_allclose([intercept, *coefficients], reference, atol=1e-5)


def test_one_class_is_refused():
    x, _ = small_frame()
    with pytest.raises(ValueError, match="all one class"):
        fit_logistic(x, np.ones(len(x)))


def test_transforms_and_balanced_weights():
    assert choose_transform(np.array([0.1, 0.5, 0.93, np.nan])) == "logit"
    assert choose_transform(np.exp(np.random.default_rng(1).standard_normal(500))) == "log1p"
    assert choose_transform(np.array([-2.0, 0.0, 1.5, 3.0])) == "identity"
    weights = balanced_weights(pd.Series(["a"] * 6 + ["b"] * 2))
    # Each group carries half the total weight; the mean weight stays 1.
    assert weights[:6].sum() == pytest.approx(4.0) and weights[6:].sum() == pytest.approx(4.0)


def degraded_world(seed: int, n: int = 6000) -> pd.DataFrame:
    """Group 'b' (10%) has a feature feed that is mostly noise with a pessimistic offset,
    as in the demo's MinorityDegradation; the outcome follows the true signal."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.1, "b", "a")
    signal = rng.standard_normal(n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 + 1.5 * signal)))).astype(float)
    noisy = 0.3 * signal + 0.7 * (rng.standard_normal(n) - 1.0)
    observed = np.where(group == "b", noisy, signal)
    colour = rng.choice(["red", "blue"], n)
    return pd.DataFrame({"x": observed, "colour": colour, "group": group, "label": y})


def test_reweighted_group_intercept_beats_the_incumbent_on_the_degraded_group():
    train, test = degraded_world(1), degraded_world(2)
    # The incumbent: the healthy model (fitted where every feed is intact), unaware of b.
    incumbent = fit_logistic_model(
        train[train.group == "a"], train.label[train.group == "a"].to_numpy(),
        numeric_features=["x"], categorical_features=["colour"],
    )  # fmt: skip
    candidate = fit_logistic_model(
        train,
        train.label.to_numpy(),
        numeric_features=["x"],
        categorical_features=["colour", "group"],
        weights=balanced_weights(train.group),
    )
    b = test[test.group == "b"]
    old = log_loss(b.label, incumbent.predict_proba(b))
    new = log_loss(b.label, candidate.predict_proba(b))
    assert new < old - 0.05
    # True positive rate of b at threshold 0.5 rises: qualified members are approved again.
    positives = b[b.label == 1]
    assert (candidate.predict_proba(positives) >= 0.5).mean() > (
        incumbent.predict_proba(positives) >= 0.5
    ).mean() + 0.1
    # The majority group is not made worse in any material way.
    a = test[test.group == "a"]
    assert (
        log_loss(a.label, candidate.predict_proba(a))
        < log_loss(a.label, incumbent.predict_proba(a)) + 0.02
    )


def test_model_round_trips_through_json_and_scores_missing_values():
    train = degraded_world(3, n=1000)
    model = fit_logistic_model(
        train, train.label.to_numpy(), numeric_features=["x"], categorical_features=["colour"]
    )
    again = LogisticModel.from_json(model.to_json())
    np.testing.assert_allclose(again.predict_proba(train), model.predict_proba(train))
    odd = pd.DataFrame({"x": [np.nan], "colour": [None]})
    # A missing number scores as the training median, a missing category as the reference.
    median_row = pd.DataFrame({"x": [train.x.median()], "colour": [model.categorical["colour"][0]]})
    assert again.predict_proba(odd)[0] == pytest.approx(again.predict_proba(median_row)[0])
