-- Create the role "clientwork" and one database per service, owned by it.
-- Safe to run again, because it skips what exists. deploy/servers runs it on
-- every "up", and the postgres Docker image runs it once, on an empty data volume.
-- Run it with psql, because \gexec is a psql command.

SELECT 'CREATE ROLE clientwork'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clientwork')
\gexec

-- CREATEDB because the tests create and drop throwaway databases. pg_signal_backend lets
-- "DROP DATABASE ... WITH (FORCE)" end an autovacuum worker that is still in such a database.
ALTER ROLE clientwork WITH LOGIN CREATEDB PASSWORD 'clientwork';
GRANT pg_signal_backend TO clientwork;

SELECT format('CREATE DATABASE %I OWNER clientwork', name)
FROM unnest(ARRAY['crm', 'tasks', 'documents', 'intake', 'search', 'extranet']) AS name
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name)
\gexec

SELECT format('ALTER DATABASE %I OWNER TO clientwork', name)
FROM unnest(ARRAY['crm', 'tasks', 'documents', 'intake', 'search', 'extranet']) AS name
\gexec
