"""The Dagster instance storage of dagster.yaml reuses its connections: a run that stores
hundreds of events opens a handful, where dagster-postgres's own storage opens one per
event (each costing a SCRAM login on the embedded server)."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from monitoring_pipeline.dagster_storage import instance_storage_config

EVENTS = 100


@dg.op
def chatty(context) -> int:
    for i in range(EVENTS):
        context.log.info(f"event {i}")
    return EVENTS


@dg.job
def chatty_job():
    chatty()


@dg.op
def materializing(context) -> int:
    for i in range(EVENTS // 4):
        # A data version, as every materialization of a partitioned asset carries: indexed
        # in the event log's tags table.
        context.log_event(
            dg.AssetMaterialization(
                asset_key=f"asset_{i}", partition="2026-10-01", tags={"dagster/data_version": "1"}
            )
        )
    return EVENTS


@dg.job
def materializing_job():
    materializing()


def _connections_opened_by_a_run(overrides: dict, tmp_path, job=chatty_job) -> int:
    tmp_path.mkdir()
    opened = []

    def count(*_):
        opened.append(1)

    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as instance:
        sa.event.listen(sa.pool.Pool, "connect", count)
        try:
            result = job.execute_in_process(instance=instance)
        finally:
            sa.event.remove(sa.pool.Pool, "connect", count)
        assert result.success
        if job is chatty_job:
            logged = [
                e for e in instance.all_logs(result.run_id) if e.user_message.startswith("event ")
            ]
            assert len(logged) == EVENTS
    return len(opened)


@pytest.mark.e2e
def test_a_run_reuses_its_connections(dagster_storage_url, tmp_path):
    pooled = _connections_opened_by_a_run(
        instance_storage_config(dagster_storage_url), tmp_path / "a"
    )
    plain = _connections_opened_by_a_run(
        {"storage": {"postgres": {"postgres_url": dagster_storage_url}}}, tmp_path / "b"
    )
    # dagster-postgres alone: at least one connection per stored event.
    assert plain > EVENTS, (pooled, plain)
    # Pooled (measured: 2 against 128): at most one kept per storage part, and one spare.
    assert pooled <= 4, (pooled, plain)


@pytest.mark.e2e
def test_asset_events_reuse_the_kept_connections_too(dagster_storage_url, tmp_path):
    # Storing an asset event asks whether the tags table exists while holding the kept
    # connection: without remembering the answer, each asked on a new connection.
    opened = _connections_opened_by_a_run(
        instance_storage_config(dagster_storage_url), tmp_path / "a", materializing_job
    )
    assert opened <= 4, opened


@pytest.mark.e2e
def test_a_kept_connection_the_server_dropped_is_replaced_not_failed(
    dagster_storage_url, pg_admin_url, tmp_path
):
    from monitoring_pipeline.storage.database import create_engine

    with dg.instance_for_test(
        overrides=instance_storage_config(dagster_storage_url), temp_dir=str(tmp_path)
    ) as instance:
        instance.get_runs(limit=1)  # the run storage now keeps a connection
        admin = create_engine(pg_admin_url)
        with admin.connect() as conn:
            dropped = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = 'dagster_test' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        admin.dispose()
        assert dropped >= 1
        # Checked before use, replaced: the call succeeds.
        assert chatty_job.execute_in_process(instance=instance).success
        assert len(instance.get_runs()) >= 1


def _backends(engine: sa.Engine, application: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
            {"a": application},
        ).scalar_one()


def test_tracked_storages_close_their_connections(
    dagster_storage_url, pg_admin_url, tmp_path, monkeypatch
):
    """A Celery worker builds an instance per step and dagster-celery never closes it: the
    worker tracks the storages and closes them after each step (celery_app's task_postrun)."""
    from monitoring_pipeline import dagster_storage

    monkeypatch.setattr(dagster_storage, "_storages_to_close", None)
    dagster_storage.track_storages()
    url = sa.make_url(dagster_storage_url).update_query_dict(
        {"application_name": "storage-tracking-test"}
    )
    admin = sa.create_engine(pg_admin_url, poolclass=sa.pool.NullPool)
    try:
        for i in range(3):
            (tmp_path / str(i)).mkdir()
            with dg.instance_for_test(
                overrides=instance_storage_config(url.render_as_string(hide_password=False)),
                temp_dir=str(tmp_path / str(i)),
            ) as instance:
                assert instance.get_runs(limit=1) is not None
        # Exiting instance_for_test does not close them: each keeps its connections.
        assert _backends(admin, "storage-tracking-test") >= 3
        assert dagster_storage.close_storages() == 3
        assert _backends(admin, "storage-tracking-test") == 0
        assert dagster_storage.close_storages() == 0
    finally:
        admin.dispose()
