-- A read-only role for analysts: it reads schema monitoring and nothing else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitoring_reader') THEN
        CREATE ROLE monitoring_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO monitoring_reader', current_database());
END
$$;

-- Nothing in public, where Dagster's storage may live.
REVOKE ALL ON SCHEMA public FROM monitoring_reader;
ALTER ROLE monitoring_reader SET default_transaction_read_only = on;

GRANT USAGE ON SCHEMA monitoring TO monitoring_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA monitoring TO monitoring_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA monitoring GRANT SELECT ON TABLES TO monitoring_reader;
