-- A cmdb SQLite database at schema version 1 (sqlite3 .dump of the README's main job and one
-- more create): the seed set 4780 with its template's module, set 4781, and their audit records.
PRAGMA application_id = 1129137218;
PRAGMA user_version = 1;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE sets (
        bk_set_id    INTEGER PRIMARY KEY,
        bk_biz_id    INTEGER NOT NULL,
        bk_parent_id INTEGER NOT NULL,
        name         TEXT    NOT NULL,
        builtin      INTEGER NOT NULL CHECK (builtin IN (0, 1)),
        doc          TEXT    NOT NULL,
        UNIQUE (bk_biz_id, bk_parent_id, name)
    );
INSERT INTO sets VALUES(1,1,1,'空闲机池',1,'{"bk_biz_id":1,"bk_capacity":null,"bk_created_at":"2026-12-07T23:34:45.905+08:00","bk_created_by":"admin","bk_parent_id":1,"bk_service_status":"1","bk_set_desc":"","bk_set_env":"3","bk_set_id":1,"bk_set_name":"空闲机池","bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.905+08:00","bk_updated_by":"admin","create_time":"2026-12-07T23:34:45.905+08:00","default":1,"description":"","last_time":"2026-12-07T23:34:45.905+08:00","set_template_id":0,"set_template_version":null}');
INSERT INTO sets VALUES(4780,1,1,'test-set',0,'{"bk_biz_id":1,"bk_capacity":1000,"bk_created_at":"2026-12-07T23:34:45.925+08:00","bk_created_by":"xxx","bk_parent_id":1,"bk_service_status":"1","bk_set_desc":"test-set","bk_set_env":"3","bk_set_id":4780,"bk_set_name":"test-set","bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.925+08:00","bk_updated_by":"xxx","create_time":"2026-12-07T23:34:45.925+08:00","default":0,"description":"description","last_time":"2026-12-07T23:34:45.925+08:00","set_template_id":1,"set_template_version":3}');
INSERT INTO sets VALUES(4781,1,1,'plain-set',0,'{"bk_biz_id":1,"bk_capacity":5,"bk_created_at":"2026-12-07T23:34:48.499+08:00","bk_created_by":"xxx","bk_parent_id":1,"bk_service_status":"1","bk_set_desc":"","bk_set_env":"3","bk_set_id":4781,"bk_set_name":"plain-set","bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:48.499+08:00","bk_updated_by":"xxx","create_time":"2026-12-07T23:34:48.499+08:00","default":0,"description":"","last_time":"2026-12-07T23:34:48.499+08:00","set_template_id":0,"set_template_version":null}');
CREATE TABLE set_unique_keys (
        storage_key TEXT    PRIMARY KEY,
        bk_set_id   INTEGER NOT NULL
    ) WITHOUT ROWID;
CREATE TABLE modules (
        bk_module_id INTEGER PRIMARY KEY,
        bk_set_id    INTEGER NOT NULL,
        bk_biz_id    INTEGER NOT NULL,
        doc          TEXT    NOT NULL
    );
INSERT INTO modules VALUES(1,1,1,'{"bk_biz_id":1,"bk_created_at":"2026-12-07T23:34:45.905+08:00","bk_created_by":"admin","bk_module_id":1,"bk_module_name":"空闲机","bk_parent_id":1,"bk_set_id":1,"bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.905+08:00","bk_updated_by":"admin","create_time":"2026-12-07T23:34:45.905+08:00","default":1,"host_apply_enabled":false,"last_time":"2026-12-07T23:34:45.905+08:00","service_category_id":0,"service_template_id":0,"set_template_id":0}');
INSERT INTO modules VALUES(2,1,1,'{"bk_biz_id":1,"bk_created_at":"2026-12-07T23:34:45.905+08:00","bk_created_by":"admin","bk_module_id":2,"bk_module_name":"故障机","bk_parent_id":1,"bk_set_id":1,"bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.905+08:00","bk_updated_by":"admin","create_time":"2026-12-07T23:34:45.905+08:00","default":2,"host_apply_enabled":false,"last_time":"2026-12-07T23:34:45.905+08:00","service_category_id":0,"service_template_id":0,"set_template_id":0}');
INSERT INTO modules VALUES(3,1,1,'{"bk_biz_id":1,"bk_created_at":"2026-12-07T23:34:45.905+08:00","bk_created_by":"admin","bk_module_id":3,"bk_module_name":"待回收","bk_parent_id":1,"bk_set_id":1,"bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.905+08:00","bk_updated_by":"admin","create_time":"2026-12-07T23:34:45.905+08:00","default":3,"host_apply_enabled":false,"last_time":"2026-12-07T23:34:45.905+08:00","service_category_id":0,"service_template_id":0,"set_template_id":0}');
INSERT INTO modules VALUES(4,4780,1,'{"bk_biz_id":1,"bk_created_at":"2026-12-07T23:34:45.925+08:00","bk_created_by":"xxx","bk_module_id":4,"bk_module_name":"nginx","bk_parent_id":4780,"bk_set_id":4780,"bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.925+08:00","bk_updated_by":"xxx","create_time":"2026-12-07T23:34:45.925+08:00","default":0,"host_apply_enabled":false,"last_time":"2026-12-07T23:34:45.925+08:00","service_category_id":2,"service_template_id":7,"set_template_id":1}');
CREATE TABLE audit (
        id            INTEGER PRIMARY KEY,
        bk_biz_id     INTEGER NOT NULL,
        resource_type TEXT    NOT NULL,
        doc           TEXT    NOT NULL
    );
INSERT INTO audit VALUES(1,1,'set','{"action":"create","audit_type":"business_resource","bk_biz_id":1,"bk_supplier_account":"123456789","code":"esb_test","id":1,"operate_from":"user","operation_detail":{"bk_obj_id":"set","details":{"cur_data":{"bk_biz_id":1,"bk_capacity":1000,"bk_created_at":"2026-12-07T23:34:45.925+08:00","bk_created_by":"xxx","bk_parent_id":1,"bk_service_status":"1","bk_set_desc":"test-set","bk_set_env":"3","bk_set_id":4780,"bk_set_name":"test-set","bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.925+08:00","bk_updated_by":"xxx","create_time":"2026-12-07T23:34:45.925+08:00","default":0,"description":"description","last_time":"2026-12-07T23:34:45.925+08:00","set_template_id":1,"set_template_version":3},"pre_data":null,"update_fields":null}},"operation_time":"2026-12-07T23:34:45.925+08:00","resource_id":4780,"resource_name":"test-set","resource_type":"set","rid":"b25b1a6888f6563924fd3a0dabc5a924","user":"xxx"}');
INSERT INTO audit VALUES(2,1,'module','{"action":"create","audit_type":"business_resource","bk_biz_id":1,"bk_supplier_account":"123456789","code":"esb_test","id":2,"operate_from":"user","operation_detail":{"bk_obj_id":"module","details":{"cur_data":{"bk_biz_id":1,"bk_created_at":"2026-12-07T23:34:45.925+08:00","bk_created_by":"xxx","bk_module_id":4,"bk_module_name":"nginx","bk_parent_id":4780,"bk_set_id":4780,"bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:45.925+08:00","bk_updated_by":"xxx","create_time":"2026-12-07T23:34:45.925+08:00","default":0,"host_apply_enabled":false,"last_time":"2026-12-07T23:34:45.925+08:00","service_category_id":2,"service_template_id":7,"set_template_id":1},"pre_data":null,"update_fields":null}},"operation_time":"2026-12-07T23:34:45.925+08:00","resource_id":4,"resource_name":"nginx","resource_type":"module","rid":"b25b1a6888f6563924fd3a0dabc5a924","user":"xxx"}');
INSERT INTO audit VALUES(3,1,'set','{"action":"create","audit_type":"business_resource","bk_biz_id":1,"bk_supplier_account":"123456789","code":"esb_test","id":3,"operate_from":"user","operation_detail":{"bk_obj_id":"set","details":{"cur_data":{"bk_biz_id":1,"bk_capacity":5,"bk_created_at":"2026-12-07T23:34:48.499+08:00","bk_created_by":"xxx","bk_parent_id":1,"bk_service_status":"1","bk_set_desc":"","bk_set_env":"3","bk_set_id":4781,"bk_set_name":"plain-set","bk_supplier_account":"123456789","bk_updated_at":"2026-12-07T23:34:48.499+08:00","bk_updated_by":"xxx","create_time":"2026-12-07T23:34:48.499+08:00","default":0,"description":"","last_time":"2026-12-07T23:34:48.499+08:00","set_template_id":0,"set_template_version":null},"pre_data":null,"update_fields":null}},"operation_time":"2026-12-07T23:34:48.499+08:00","resource_id":4781,"resource_name":"plain-set","resource_type":"set","rid":"cd91fa9dd15d40c2931d09e752f30e71","user":"xxx"}');
CREATE TABLE sequences (
        kind TEXT    PRIMARY KEY,
        last INTEGER NOT NULL
    ) WITHOUT ROWID;
INSERT INTO sequences VALUES('attribute',0);
INSERT INTO sequences VALUES('audit',3);
INSERT INTO sequences VALUES('module',4);
INSERT INTO sequences VALUES('set',4781);
CREATE TABLE mainline (
        bk_supplier_account TEXT PRIMARY KEY,
        levels              TEXT NOT NULL
    ) WITHOUT ROWID;
INSERT INTO mainline VALUES('123456789','[]');
CREATE TABLE businesses (
        bk_biz_id INTEGER PRIMARY KEY,
        doc       TEXT    NOT NULL
    );
INSERT INTO businesses VALUES(1,'{"bk_biz_id":1,"bk_biz_name":"demo","archived":false,"bk_supplier_account":"123456789"}');
CREATE TABLE mainline_instances (
        bk_inst_id INTEGER PRIMARY KEY,
        doc        TEXT    NOT NULL
    );
CREATE TABLE set_attributes (
        bk_supplier_account TEXT    NOT NULL,
        bk_property_id      TEXT    NOT NULL,
        ordinal             INTEGER NOT NULL,
        bk_biz_id           INTEGER NOT NULL,
        doc                 TEXT    NOT NULL,
        PRIMARY KEY (bk_supplier_account, bk_property_id)
    ) WITHOUT ROWID;
CREATE TABLE unique_rules (
        bk_supplier_account TEXT NOT NULL,
        rule_key            TEXT NOT NULL,
        doc                 TEXT NOT NULL,
        PRIMARY KEY (bk_supplier_account, rule_key)
    ) WITHOUT ROWID;
CREATE TABLE service_templates (
        id  INTEGER PRIMARY KEY,
        doc TEXT    NOT NULL
    );
INSERT INTO service_templates VALUES(7,'{"id":7,"bk_biz_id":1,"name":"nginx","service_category_id":2,"bk_supplier_account":"123456789"}');
CREATE TABLE set_templates (
        id  INTEGER PRIMARY KEY,
        doc TEXT    NOT NULL
    );
INSERT INTO set_templates VALUES(1,'{"id":1,"bk_biz_id":1,"name":"web","version":3,"service_template_ids":[7],"attributes":[],"bk_supplier_account":"123456789"}');
CREATE UNIQUE INDEX sets_one_builtin_per_biz ON sets (bk_biz_id) WHERE builtin = 1;
CREATE INDEX modules_by_set ON modules (bk_set_id);
CREATE INDEX audit_by_biz ON audit (bk_biz_id);
COMMIT;
