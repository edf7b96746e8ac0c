//! The schema: migrations applied in order on open, versioned in the `cmdb_schema` table.

use tokio_postgres::Client;

use crate::error::{OpenError, pg_error};

/// The migrations, in order. Migration `i` (0-based) brings the schema to version `i + 1`.
/// Published migrations never change; a schema change is a new entry at the end.
///
/// Documents are `text`, not `jsonb`: a document must read back exactly as written, and
/// `jsonb` reorders keys and turns `-0.0` into `0`. Text is compared with `COLLATE "C"` where
/// order matters, so every store orders the same bytes the same way.
pub const MIGRATIONS: &[&str] = &[
    // Version 1.
    r#"
    CREATE TABLE sets (
        bk_set_id    bigint  PRIMARY KEY,
        bk_biz_id    bigint  NOT NULL,
        bk_parent_id bigint  NOT NULL,
        name         text    NOT NULL,
        builtin      boolean NOT NULL,
        doc          text    NOT NULL,
        CONSTRAINT sets_name_per_parent UNIQUE (bk_biz_id, bk_parent_id, name)
    );
    CREATE UNIQUE INDEX sets_one_builtin_per_biz ON sets (bk_biz_id) WHERE builtin;

    CREATE TABLE set_unique_keys (
        storage_key text   PRIMARY KEY,
        bk_set_id   bigint NOT NULL
    );

    CREATE TABLE modules (
        bk_module_id bigint PRIMARY KEY,
        bk_set_id    bigint NOT NULL,
        bk_biz_id    bigint NOT NULL,
        doc          text   NOT NULL
    );
    CREATE INDEX modules_by_set ON modules (bk_set_id, bk_module_id);

    CREATE TABLE audit (
        id            bigint PRIMARY KEY,
        bk_biz_id     bigint NOT NULL,
        resource_type text   NOT NULL,
        doc           text   NOT NULL
    );
    CREATE INDEX audit_by_biz ON audit (bk_biz_id, id);

    CREATE TABLE sequences (
        kind text   PRIMARY KEY,
        last bigint NOT NULL CHECK (last >= 0)
    );
    INSERT INTO sequences (kind, last)
        VALUES ('set', 0), ('module', 0), ('audit', 0), ('attribute', 0);

    CREATE TABLE mainline (
        bk_supplier_account text PRIMARY KEY,
        levels              text NOT NULL
    );

    CREATE TABLE businesses (
        bk_biz_id bigint PRIMARY KEY,
        doc       text   NOT NULL
    );

    CREATE TABLE mainline_instances (
        bk_inst_id bigint PRIMARY KEY,
        doc        text   NOT NULL
    );

    CREATE TABLE set_attributes (
        bk_supplier_account text   NOT NULL,
        bk_property_id      text   NOT NULL,
        ordinal             bigint NOT NULL,
        bk_biz_id           bigint NOT NULL,
        doc                 text   NOT NULL,
        PRIMARY KEY (bk_supplier_account, bk_property_id)
    );

    CREATE TABLE unique_rules (
        bk_supplier_account text NOT NULL,
        rule_key            text NOT NULL,
        doc                 text NOT NULL,
        PRIMARY KEY (bk_supplier_account, rule_key)
    );

    CREATE TABLE service_templates (
        id  bigint PRIMARY KEY,
        doc text   NOT NULL
    );

    CREATE TABLE set_templates (
        id                   bigint   PRIMARY KEY,
        service_template_ids bigint[] NOT NULL,
        doc                  text     NOT NULL
    );
    "#,
    // Version 2: the catalog version, a counter row beside the id counters. Every transaction
    // that writes catalog rows (a fixture load) bumps it under the same row locks, so facts
    // cached by any engine are checked against it at commit.
    r#"
    INSERT INTO sequences (kind, last) VALUES ('catalog', 0);
    "#,
];

/// The schema version this crate writes and understands (the number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], each migration in its own transaction that holds
/// the version row locked, so engines opening one database at once migrate it once.
///
/// # Errors
/// [`OpenError::TooNew`] for a schema above this crate's; [`OpenError::Foreign`] when the
/// version table holds something else; server failures.
pub(crate) async fn migrate(client: &mut Client) -> Result<i64, OpenError> {
    // Concurrent `CREATE TABLE IF NOT EXISTS` can still collide on the type's name (23505):
    // the loser retries once the winner committed.
    for attempt in 0..5 {
        match client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS cmdb_schema (\
                 one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL); \
                 INSERT INTO cmdb_schema (one, version) VALUES (true, 0) ON CONFLICT DO NOTHING",
            )
            .await
        {
            Ok(()) => break,
            Err(e)
                if attempt < 4
                    && e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(pg_error(e)),
        }
    }
    loop {
        let tx = client.transaction().await.map_err(pg_error)?;
        let row = tx
            .query_opt("SELECT version FROM cmdb_schema WHERE one FOR UPDATE", &[])
            .await
            .map_err(pg_error)?;
        let Some(row) = row else {
            return Err(OpenError::Foreign {
                reason: "the cmdb_schema table holds no version row".into(),
            });
        };
        let current: i64 = row.try_get(0).map_err(pg_error)?;
        if current > SCHEMA_VERSION {
            return Err(OpenError::TooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current < 0 {
            return Err(OpenError::Foreign {
                reason: format!("schema version {current} is negative"),
            });
        }
        let Some(sql) = usize::try_from(current)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
        else {
            tx.commit().await.map_err(pg_error)?;
            return Ok(current);
        };
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute("UPDATE cmdb_schema SET version = $1", &[&(current + 1)])
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
    }
}
