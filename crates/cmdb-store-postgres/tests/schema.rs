//! Opening: a fresh database gets the schema and a second open finds it; a schema written by a
//! newer engine is refused with a one-line error (nothing written); a database of schema
//! version 1 is migrated to the current one with its data.

mod common;

use cmdb_store_postgres::{OpenError, PgOptions, PgStore, SCHEMA_VERSION};
use common::{TestDb, server_missing};

/// A plain client of the database at `url`, its connection driven by a task of its own.
async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

async fn version(url: &str) -> i64 {
    client(url)
        .await
        .query_one("SELECT version FROM cmdb_schema", &[])
        .await
        .expect("the version row")
        .get(0)
}

#[test]
fn a_newer_schema_is_refused_with_one_line() {
    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let db = TestDb::create();
    cmdb_store_conformance::run_case(async {
        let store = PgStore::connect(&db.url, PgOptions::default())
            .await
            .expect("a fresh database opens");
        drop(store);
        assert_eq!(version(&db.url).await, SCHEMA_VERSION);
        // Opening again finds the schema in place.
        drop(
            PgStore::connect(&db.url, PgOptions::default())
                .await
                .expect("it opens again"),
        );
        let client = client(&db.url).await;
        client
            .batch_execute("UPDATE cmdb_schema SET version = 99")
            .await
            .expect("a newer engine's version");
        let refused = PgStore::connect(&db.url, PgOptions::default())
            .await
            .expect_err("a newer schema is refused");
        assert_eq!(
            refused,
            OpenError::TooNew {
                what: "database schema",
                found: 99,
                supported: SCHEMA_VERSION
            }
        );
        assert_eq!(
            refused.to_string(),
            format!(
                "database schema version 99 is newer than this engine supports ({SCHEMA_VERSION})"
            )
        );
        assert_eq!(version(&db.url).await, 99, "nothing was written");
    });
}

#[test]
fn a_url_that_does_not_parse_is_refused_before_connecting() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for url in ["mysql://root@localhost/db", "postgres://h:notaport/db"] {
        let refused = runtime
            .block_on(PgStore::connect_lazy(url, PgOptions::default()))
            .expect_err("refused");
        assert!(
            matches!(refused, OpenError::Invalid(_)),
            "{url}: {refused:?}"
        );
        assert!(refused.to_string().starts_with("invalid PostgreSQL URL: "));
    }
}

#[test]
fn a_version_1_database_is_migrated_with_its_data_and_gets_a_catalog_version() {
    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let db = TestDb::create();
    cmdb_store_conformance::run_case(async {
        // A database as an engine of schema version 1 left it: its tables, a business and a
        // set counter in use.
        let client = client(&db.url).await;
        client
            .batch_execute(&format!(
                "CREATE TABLE cmdb_schema (one boolean PRIMARY KEY DEFAULT true CHECK (one), \
                 version bigint NOT NULL); INSERT INTO cmdb_schema VALUES (true, 1); {} \
                 INSERT INTO businesses VALUES (1, '{{\"bk_biz_id\":1,\"bk_biz_name\":\"demo\",\
                 \"archived\":false,\"bk_supplier_account\":\"0\"}}'); \
                 UPDATE sequences SET last = 4779 WHERE kind = 'set';",
                cmdb_store_postgres::schema::MIGRATIONS[0]
            ))
            .await
            .expect("a version 1 database");
        let store = PgStore::connect(&db.url, PgOptions::default())
            .await
            .expect("it opens and migrates");
        assert_eq!(version(&db.url).await, SCHEMA_VERSION);
        let catalog: i64 = client
            .query_one("SELECT last FROM sequences WHERE kind = 'catalog'", &[])
            .await
            .expect("the catalog version row")
            .get(0);
        assert_eq!(catalog, 0);
        let ctx = cmdb_store_conformance::support::context("0");
        let created = cmdb_store_conformance::support::create_ok(
            &store,
            &ctx,
            1,
            serde_json::json!({"bk_parent_id": 1, "bk_set_name": "after-upgrade"}),
        )
        .await;
        assert_eq!(created.set.id.0, 4780, "the counters carried over");
        assert_eq!(store.stale_plans(), 0);
    });
}

#[test]
fn a_version_3_database_gets_its_listing_counts_on_open() {
    use cmdb_core::ports::SetStore;
    use cmdb_store_conformance::support::{
        context, create_ok, listing_counts, load_ok, worked_example_fixture,
    };

    if let Some(reason) = server_missing() {
        println!("skipped: {reason}");
        return;
    }
    let db = TestDb::create();
    cmdb_store_conformance::run_case(async {
        let store = PgStore::connect(&db.url, PgOptions::default())
            .await
            .expect("a fresh database opens");
        load_ok(&store, worked_example_fixture()).await;
        let ctx = context("123456789");
        for name in ["a", "b"] {
            let data =
                serde_json::json!({"bk_parent_id": 1, "bk_set_name": name, "set_template_id": 1});
            create_ok(&store, &ctx, 1, data).await;
        }
        let counted = listing_counts(&store, 1).await;
        assert_eq!(
            counted,
            [3, 2, 2, 4],
            "the idle set and two from a one-module template"
        );
        store.close().await.expect("closed");
        drop(store);

        // As an engine of schema version 3 left it: no listing counters.
        let client = client(&db.url).await;
        client
            .batch_execute("DROP TABLE listing_counts; UPDATE cmdb_schema SET version = 3")
            .await
            .expect("a version 3 database");
        let store = PgStore::connect(&db.url, PgOptions::default())
            .await
            .expect("it opens and migrates");
        assert_eq!(version(&db.url).await, SCHEMA_VERSION);
        let recounted = listing_counts(&store, 1).await;
        assert_eq!(recounted, counted, "counted by the migration");
        let data = serde_json::json!({"bk_parent_id": 1, "bk_set_name": "c"});
        create_ok(&store, &ctx, 1, data).await;
        let after = listing_counts(&store, 1).await;
        assert_eq!(after, [4, 3, 2, 5]);
        store.close().await.expect("closed");
    });
}
