"""Seeded, realistic demo traffic for the monitoring pipeline.

``generator`` simulates the prediction logs and late-arriving ground-truth labels of two
classification models (``loan_approval`` and ``job_screening``); ``incidents`` is the catalogue of
production failure modes (feature-feed degradation, proxy features, null bursts, distribution
shift, threshold misconfiguration, label outages, malformed rows) that the generator can inject on
chosen days so the monitors have something to find.
"""
