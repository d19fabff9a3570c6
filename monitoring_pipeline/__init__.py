"""monitoring_pipeline: watch deployed classification models for decay, drift and unfairness."""
