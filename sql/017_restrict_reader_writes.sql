-- The analysts' role cannot write anything, even after SET default_transaction_read_only = off
-- (any session may switch that off): its privileges, not a session default, are the boundary.
--
-- * No temporary tables: TEMPORARY on a database is granted to PUBLIC by default, and every
--   role is a member of PUBLIC, so it is revoked from PUBLIC (the owner and superusers keep it;
--   the pipeline creates no temporary tables).
-- * No CREATE on any schema of this database (PostgreSQL 15+ already withholds it from
--   PUBLIC on schema public; older servers, and grants made by hand, did not).
-- * SELECT in schema monitoring only (002); raw source schemas grant it nothing.
-- * No large objects: lo_create & co. are executable by PUBLIC and write to
--   pg_largeobject; only a superuser may revoke them, so this part needs one (the embedded
--   server's migrations run as its superuser).
DO $$
DECLARE
    schema_name name;
BEGIN
    EXECUTE format(
        'REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, monitoring_reader', current_database()
    );
    FOR schema_name IN
        SELECT nspname FROM pg_namespace
        WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
    LOOP
        EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC, monitoring_reader', schema_name);
    END LOOP;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        REVOKE EXECUTE ON FUNCTION
            lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea),
            lo_import(text), lo_import(text, oid)
        FROM PUBLIC;
    END IF;
END
$$;
