//! Throwaway PostgreSQL databases for the benchmarks that run under `scripts/with-postgres`
//! (`CMDB_PG_URL`): a URL naming another database, and one statement run on a connection of
//! its own (`CREATE DATABASE`, `DROP DATABASE`).

/// `url` with its database name replaced by `db`.
pub fn url_with_db(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host = base[scheme_end..]
        .find('/')
        .map_or(base, |i| &base[..scheme_end + i]);
    match query {
        Some(q) => format!("{host}/{db}?{q}"),
        None => format!("{host}/{db}"),
    }
}

/// Runs `sql` on a connection of its own to `url`.
///
/// # Panics
/// When the server cannot be reached or refuses the statement.
pub async fn admin(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to CMDB_PG_URL");
    let task = tokio::spawn(connection);
    client.batch_execute(sql).await.expect(sql);
    drop(client);
    let _ = task.await;
}
