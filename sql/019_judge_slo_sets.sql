-- SLOs over sets (every group of an attribute, of every attribute, every feature) and a
-- severity cap per SLO. A set SLO's row names the member with the clearest violation as
-- its subject; these columns list every bad member and those that could not be judged.
-- Rows written before this migration get the defaults (one member, nothing listed).

ALTER TABLE monitoring.slo_evaluations ADD COLUMN IF NOT EXISTS bad_members text[] NOT NULL DEFAULT '{}';
ALTER TABLE monitoring.slo_evaluations ADD COLUMN IF NOT EXISTS unknown_members text[] NOT NULL DEFAULT '{}';
ALTER TABLE monitoring.slo_evaluations ADD COLUMN IF NOT EXISTS members integer NOT NULL DEFAULT 1;
ALTER TABLE monitoring.slo_evaluations ADD COLUMN IF NOT EXISTS interval_confidence double precision;
ALTER TABLE monitoring.error_budgets ADD COLUMN IF NOT EXISTS max_severity text NOT NULL DEFAULT 'page';
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint WHERE conname = 'error_budgets_max_severity_check'
    ) THEN
        ALTER TABLE monitoring.error_budgets ADD CONSTRAINT error_budgets_max_severity_check
            CHECK (max_severity IN ('ticket', 'page'));
    END IF;
END $$;

COMMENT ON TABLE monitoring.slo_evaluations IS
    'Each SLO judged on each day. A day is bad only on clear evidence (its whole interval lies beyond the objective; figures without an interval, such as PSI, are judged on their value). A cell below the minimum size is judged on its interval alone: bad when it lies wholly beyond the objective, good when wholly within, unknown otherwise. A set SLO (cohort "*" or "<attribute>=*", attribute "*", every group, feature "*") is bad when some member is bad (intervals Bonferroni-adjusted across the members), good when none is bad and at least one is good, unknown when none can be judged.';
COMMENT ON COLUMN monitoring.slo_evaluations.sli_subject IS 'What was measured that day, e.g. "region=west vs north", "all", or "income @ all". For an SLO over a set (every group, attribute or feature): the bad member with the clearest violation (interval furthest beyond the objective), else the judged member closest to the objective.';
COMMENT ON COLUMN monitoring.slo_evaluations.lower IS 'Lower bound of the interval the verdict used (for an absolute gap: of the absolute value), at interval_confidence; NULL when it has none.';
COMMENT ON COLUMN monitoring.slo_evaluations.upper IS 'Upper bound of that interval.';
COMMENT ON COLUMN monitoring.slo_evaluations.sufficient IS 'Whether the subject''s cohorts had the minimum sample size. An insufficient subject may still be judged good or bad on its interval (the reason says "judged on its interval").';
COMMENT ON COLUMN monitoring.slo_evaluations.bad_members IS 'Every member judged bad that day, clearest violation first (named as sli_subject is); empty when none. An SLO on one cohort or feature has at most itself.';
COMMENT ON COLUMN monitoring.slo_evaluations.unknown_members IS 'Members that could not be judged that day (below the minimum size with an interval straddling the objective, or undefined); they do not keep a set from being good.';
COMMENT ON COLUMN monitoring.slo_evaluations.members IS 'Members of the SLO with a published figure that day (1 for an SLO on one cohort or feature; 0 when nothing was published).';
COMMENT ON COLUMN monitoring.slo_evaluations.interval_confidence IS 'Two-sided confidence of lower/upper: 0.95, or 1 - 0.05 / m for a set whose m members have intervals (Bonferroni). NULL without an interval.';
COMMENT ON COLUMN monitoring.error_budgets.max_severity IS 'The most this SLO may raise (config max_severity, else defaults.max_severity of its SLI source; drift defaults to ticket): with ticket, a page rule that fires gives status ticket.';
