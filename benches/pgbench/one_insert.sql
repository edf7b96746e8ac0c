-- pgbench reference for the PostgreSQL benchmark: one durable insert of a set-sized JSON text
-- per transaction (no counter row, no audit row, no grouping). See benches/README.md.
INSERT INTO pgbench_sets (name, doc)
VALUES ('pgbench-' || :client_id || '-' || random(),
        '{"bk_biz_id":1,"bk_capacity":1000,"bk_created_at":"2026-11-28T08:34:01.386+08:00","bk_created_by":"xxx","bk_parent_id":1,"bk_service_status":"1","bk_set_desc":"test-set","bk_set_env":"3","bk_set_name":"pgbench","bk_supplier_account":"123456789","bk_updated_at":"2026-11-28T08:34:01.386+08:00","bk_updated_by":"xxx","create_time":"2026-11-28T08:34:01.386+08:00","default":0,"description":"description","last_time":"2026-11-28T08:34:01.386+08:00","set_template_id":0,"set_template_version":null}');
