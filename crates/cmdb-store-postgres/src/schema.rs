//! The schema: migrations applied in order on open, versioned in the `cmdb_schema` table.

use tokio_postgres::Client;

use cmdb_store_group::OpenError;

use crate::error::pg_error;
use crate::sql;
pub use crate::sql::MIGRATIONS;

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
        match client.batch_execute(sql::CREATE_SCHEMA_TABLE).await {
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
            .query_opt(sql::LOCK_SCHEMA_VERSION, &[])
            .await
            .map_err(pg_error)?;
        let Some(row) = row else {
            return Err(OpenError::Foreign(
                "not a cmdb database: the cmdb_schema table holds no version row".into(),
            ));
        };
        let current: i64 = row.try_get(0).map_err(pg_error)?;
        if current > SCHEMA_VERSION {
            return Err(OpenError::TooNew {
                what: "database schema",
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current < 0 {
            return Err(OpenError::Foreign(
                format!("not a cmdb database: schema version {current} is negative").into(),
            ));
        }
        let Some(migration) = usize::try_from(current)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
        else {
            tx.commit().await.map_err(pg_error)?;
            return Ok(current);
        };
        tx.batch_execute(migration).await.map_err(pg_error)?;
        tx.execute(sql::SET_SCHEMA_VERSION, &[&(current + 1)])
            .await
            .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
    }
}
