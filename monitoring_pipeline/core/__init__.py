"""Pure statistics core: pandas / numpy / scipy only (no Dagster, SQL or Great Expectations)."""
