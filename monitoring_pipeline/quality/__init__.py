"""Data-quality expectations on prediction logs. The only package importing great_expectations."""
