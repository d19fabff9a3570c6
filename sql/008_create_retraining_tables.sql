-- Retraining: requests raised when an SLO with retrain_on_page pages (retraining_job),
-- model versions fitted by a retrainer, and the canary comparison of versions serving
-- the same day (version_comparison).

CREATE TABLE IF NOT EXISTS monitoring.retraining_requests (
    request_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_name          text        NOT NULL,
    slo_name            text        NOT NULL,
    as_of               date        NOT NULL,
    alert_dedupe_key    text        NOT NULL UNIQUE,
    evidence            jsonb       NOT NULL,
    training_start      date        NOT NULL,
    training_end        date        NOT NULL,
    status              text        NOT NULL
        CHECK (status IN ('requested', 'triggered', 'completed', 'failed', 'suppressed')),
    status_reason       text,
    action_kind         text,
    action_target       text,
    attempts            integer     NOT NULL DEFAULT 0,
    exit_code           integer,
    http_status         integer,
    output_tail         text,
    requested_at        timestamptz NOT NULL,
    triggered_at        timestamptz,
    action_finished_at  timestamptz,
    completed_at        timestamptz,
    result_version      text,
    result_message      text,
    run_id              text        NOT NULL,
    produced_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS retraining_requests_model_as_of
    ON monitoring.retraining_requests (model_name, as_of);
COMMENT ON TABLE monitoring.retraining_requests IS
    'One row per retraining request (retraining_job), at most one per alert_dedupe_key: a re-executed or duplicate run records nothing twice. Status: requested (recorded) -> triggered (the configured action accepted it: command exit 0 / HTTP 2xx) -> completed (the retrainer reported a new model version) or failed (the action failed; a re-run of the same request tries again); suppressed: another request for the model lies within the cooldown, nothing was triggered.';
COMMENT ON COLUMN monitoring.retraining_requests.request_id IS 'Request number; the {request_id} placeholder of a command action and the id a retrainer reports back with.';
COMMENT ON COLUMN monitoring.retraining_requests.model_name IS 'Monitored model to retrain.';
COMMENT ON COLUMN monitoring.retraining_requests.slo_name IS 'SLO whose error budget asked for retraining.';
COMMENT ON COLUMN monitoring.retraining_requests.as_of IS 'Partition day whose error budget paged.';
COMMENT ON COLUMN monitoring.retraining_requests.alert_dedupe_key IS 'Key of the alert that raised the request (unique): the same key never records a second request.';
COMMENT ON COLUMN monitoring.retraining_requests.evidence IS 'Why retraining was asked for, as recorded: the error budget as of the day (status, bad/known days, remaining budget, burn rates), the bad days of the compliance period with their SLI and interval, the worst cohorts on the last judged day with intervals, and the suggested training window with its label coverage.';
COMMENT ON COLUMN monitoring.retraining_requests.training_start IS 'First day of the suggested training window (training_window_days ending at as_of).';
COMMENT ON COLUMN monitoring.retraining_requests.training_end IS 'Last day of the suggested training window (= as_of).';
COMMENT ON COLUMN monitoring.retraining_requests.status IS 'requested, triggered, completed, failed or suppressed (see the table comment).';
COMMENT ON COLUMN monitoring.retraining_requests.status_reason IS 'Why the status is what it is: the action''s failure in one line, the cooldown that suppressed it, or what triggered it.';
COMMENT ON COLUMN monitoring.retraining_requests.action_kind IS 'command or webhook; NULL when no action is configured or none ran.';
COMMENT ON COLUMN monitoring.retraining_requests.action_target IS 'The program run (argv joined) or the webhook host; never a secret URL''s path or query.';
COMMENT ON COLUMN monitoring.retraining_requests.attempts IS 'Times the action was started for this request (re-runs after a failure and webhook retries count).';
COMMENT ON COLUMN monitoring.retraining_requests.exit_code IS 'Exit code of the command action''s last attempt (NULL for webhooks or when it timed out).';
COMMENT ON COLUMN monitoring.retraining_requests.http_status IS 'HTTP status of the webhook''s last attempt (NULL for commands or when no answer came).';
COMMENT ON COLUMN monitoring.retraining_requests.output_tail IS 'Last lines of the command''s output (stdout and stderr) or of the webhook''s answer body.';
COMMENT ON COLUMN monitoring.retraining_requests.requested_at IS 'When the request was recorded.';
COMMENT ON COLUMN monitoring.retraining_requests.triggered_at IS 'When the action last started.';
COMMENT ON COLUMN monitoring.retraining_requests.action_finished_at IS 'When the action last finished (exit, answer, timeout or error).';
COMMENT ON COLUMN monitoring.retraining_requests.completed_at IS 'When the retrainer reported the result.';
COMMENT ON COLUMN monitoring.retraining_requests.result_version IS 'Model version the retrainer produced (see model_versions); NULL until it reports back.';
COMMENT ON COLUMN monitoring.retraining_requests.result_message IS 'What the retrainer reported with its result (e.g. training rows, holdout figures).';
COMMENT ON COLUMN monitoring.retraining_requests.run_id IS 'Dagster run that recorded the request (or the last that acted on it).';
COMMENT ON COLUMN monitoring.retraining_requests.produced_at IS 'When the row was last written.';

CREATE TABLE IF NOT EXISTS monitoring.model_versions (
    model_name          text        NOT NULL,
    model_version       text        NOT NULL,
    request_id          bigint      REFERENCES monitoring.retraining_requests (request_id),
    incumbent_version   text,
    algorithm           text        NOT NULL,
    parameters          jsonb       NOT NULL,
    training_start      date        NOT NULL,
    training_end        date        NOT NULL,
    training_rows       bigint      NOT NULL,
    training_positives  bigint      NOT NULL,
    reweighted_by       text,
    holdout_rows        bigint      NOT NULL,
    holdout_log_loss    double precision,
    incumbent_holdout_log_loss double precision,
    fitted_at           timestamptz NOT NULL,
    run_id              text        NOT NULL,
    produced_at         timestamptz NOT NULL,
    PRIMARY KEY (model_name, model_version)
);
COMMENT ON TABLE monitoring.model_versions IS
    'Model versions fitted by a retrainer (the demo''s reference retrainer writes here): everything needed to score with the version again, its training window and how it did on held-out labelled rows against the version it replaces.';
COMMENT ON COLUMN monitoring.model_versions.model_name IS 'Monitored model.';
COMMENT ON COLUMN monitoring.model_versions.model_version IS 'Version name, as it appears in labeled_predictions.model_version once it serves.';
COMMENT ON COLUMN monitoring.model_versions.request_id IS 'Retraining request it answers; NULL when fitted by hand.';
COMMENT ON COLUMN monitoring.model_versions.incumbent_version IS 'Version that served most of the training window (the one it is meant to replace).';
COMMENT ON COLUMN monitoring.model_versions.algorithm IS 'How it was fitted, e.g. logistic_regression.';
COMMENT ON COLUMN monitoring.model_versions.parameters IS 'Everything scoring needs: feature transforms (log / logit / identity with centre and scale), imputation medians, categories, coefficients, intercept, threshold.';
COMMENT ON COLUMN monitoring.model_versions.training_start IS 'First day of the training data.';
COMMENT ON COLUMN monitoring.model_versions.training_end IS 'Last day of the training data.';
COMMENT ON COLUMN monitoring.model_versions.training_rows IS 'Labelled rows fitted on (holdout excluded).';
COMMENT ON COLUMN monitoring.model_versions.training_positives IS 'Positive labels among them.';
COMMENT ON COLUMN monitoring.model_versions.reweighted_by IS 'Cohort attribute whose groups were given equal total weight in the fit (so a small group counts), or NULL.';
COMMENT ON COLUMN monitoring.model_versions.holdout_rows IS 'Labelled rows held out (a random share, seeded by the request id) to compare with the incumbent.';
COMMENT ON COLUMN monitoring.model_versions.holdout_log_loss IS 'Mean log loss of this version on the holdout rows.';
COMMENT ON COLUMN monitoring.model_versions.incumbent_holdout_log_loss IS 'Mean log loss of the logged incumbent scores on the same rows.';
COMMENT ON COLUMN monitoring.model_versions.fitted_at IS 'When it was fitted.';
COMMENT ON COLUMN monitoring.model_versions.run_id IS 'Process that fitted it (e.g. retrain-request-7).';
COMMENT ON COLUMN monitoring.model_versions.produced_at IS 'When the row was written.';

CREATE TABLE IF NOT EXISTS monitoring.version_comparison (
    partition_date       date             NOT NULL,
    model_name           text             NOT NULL,
    candidate_version    text             NOT NULL,
    incumbent_version    text             NOT NULL,
    cohort_attribute     text             NOT NULL,
    cohort_value         text             NOT NULL,
    metric               text             NOT NULL,
    candidate_value      double precision,
    incumbent_value      double precision,
    difference           double precision,
    lower                double precision,
    upper                double precision,
    candidate_denominator bigint          NOT NULL,
    incumbent_denominator bigint          NOT NULL,
    candidate_n_labelled bigint           NOT NULL,
    incumbent_n_labelled bigint           NOT NULL,
    sufficient           boolean          NOT NULL,
    verdict              text             NOT NULL
        CHECK (verdict IN ('better', 'worse', 'higher', 'lower', 'no_clear_difference', 'insufficient')),
    run_id               text             NOT NULL,
    produced_at          timestamptz      NOT NULL,
    PRIMARY KEY (model_name, partition_date, candidate_version, incumbent_version,
                 cohort_attribute, cohort_value, metric)
);
COMMENT ON TABLE monitoring.version_comparison IS
    'Canary comparison: on each day served by two or more versions, per cohort and metric, candidate minus incumbent with Newcombe''s hybrid score 95% interval, from the additive cohort_stats. Candidate: the version first seen (earliest day in cohort_stats) most recently, ties broken by the larger name; every other version of the day is an incumbent compared with it.';
COMMENT ON COLUMN monitoring.version_comparison.candidate_version IS 'The newer version (see the table comment).';
COMMENT ON COLUMN monitoring.version_comparison.incumbent_version IS 'The version it is compared with.';
COMMENT ON COLUMN monitoring.version_comparison.cohort_attribute IS '''all'', an attribute or an intersection (''sex&age_band'').';
COMMENT ON COLUMN monitoring.version_comparison.cohort_value IS '''all'', a value or an intersection value.';
COMMENT ON COLUMN monitoring.version_comparison.metric IS 'selection_rate, tpr, fpr, fnr, precision or accuracy (proportions, so the difference has a Newcombe interval).';
COMMENT ON COLUMN monitoring.version_comparison.candidate_value IS 'The metric under the candidate; NULL when undefined (zero denominator).';
COMMENT ON COLUMN monitoring.version_comparison.incumbent_value IS 'The metric under the incumbent.';
COMMENT ON COLUMN monitoring.version_comparison.difference IS 'candidate_value - incumbent_value; NULL when either is undefined.';
COMMENT ON COLUMN monitoring.version_comparison.lower IS 'Lower bound of the 95% Newcombe hybrid score interval of the difference.';
COMMENT ON COLUMN monitoring.version_comparison.upper IS 'Upper bound of that interval.';
COMMENT ON COLUMN monitoring.version_comparison.candidate_denominator IS 'Count the candidate''s rate is taken over (e.g. actual positives for tpr).';
COMMENT ON COLUMN monitoring.version_comparison.incumbent_denominator IS 'Count the incumbent''s rate is taken over.';
COMMENT ON COLUMN monitoring.version_comparison.candidate_n_labelled IS 'Labelled predictions of the cohort scored by the candidate.';
COMMENT ON COLUMN monitoring.version_comparison.incumbent_n_labelled IS 'Labelled predictions of the cohort scored by the incumbent.';
COMMENT ON COLUMN monitoring.version_comparison.sufficient IS 'Both sides have at least the model''s minimum cohort size of labelled rows: only then is the verdict better/worse/no_clear_difference.';
COMMENT ON COLUMN monitoring.version_comparison.verdict IS 'insufficient (a side below the minimum size, or the metric undefined); else, when the interval excludes 0: better or worse for metrics with a good direction (higher tpr, precision, accuracy; lower fpr, fnr), higher or lower for selection_rate (which has none); else no_clear_difference.';
COMMENT ON COLUMN monitoring.version_comparison.run_id IS 'Dagster run that wrote the row.';
COMMENT ON COLUMN monitoring.version_comparison.produced_at IS 'When the row was written.';
