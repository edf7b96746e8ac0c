-- The table of benches/pgbench/one_insert.sql.
DROP TABLE IF EXISTS pgbench_sets;
CREATE TABLE pgbench_sets (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, doc text NOT NULL);
