//! The SQL of the store: the statements, and small functions that run them and decode rows.
//! One function per kind of row, so that a change of the port touches one place.

use cmdb_core::StoreError;
use cmdb_core::catalog::{Business, ServiceTemplate, SetTemplate};
use cmdb_core::catalog_key::{CatalogItem, CatalogKey};
use cmdb_core::facts::{FactsQuery, FactsSource, StoredFacts};
use cmdb_core::ids::{SequenceKind, SetId};
use cmdb_core::listing::DocPage;
use cmdb_core::records::Document;
use deadpool_postgres::ClientWrapper;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;

use crate::error::{decode_error, encode_error, store_error};

/// Locks every sequence row (in a fixed order, so lockers never deadlock) and reads it. Every
/// write transaction starts with it: the rows serialize writers across engines, and ids stay
/// gapless.
pub(crate) const LOCK_SEQUENCES: &str =
    "SELECT kind, last FROM sequences ORDER BY kind COLLATE \"C\" FOR UPDATE";
/// Which of the given (biz, parent, name) slots hold a set. A `LATERAL … LIMIT 1` probe per slot
/// keeps it an index lookup each: as `WHERE EXISTS`, the prepared statement's generic plan
/// hashed the whole `sets` table on every group (2.8 ms per call at ~20k sets, growing).
pub(crate) const NAMES_TAKEN: &str = "SELECT u.b, u.p, u.n \
     FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(b, p, n) \
     CROSS JOIN LATERAL (SELECT 1 FROM sets s \
                         WHERE s.bk_biz_id = u.b AND s.bk_parent_id = u.p AND s.name = u.n \
                         LIMIT 1) AS hit";
/// Which of the given unique keys a set occupies.
pub(crate) const KEYS_TAKEN: &str =
    "SELECT storage_key FROM set_unique_keys WHERE storage_key = ANY($1::text[])";
/// The built-in sets of the given bizs.
pub(crate) const BUILTIN_OF: &str =
    "SELECT bk_biz_id, bk_set_id FROM sets WHERE builtin AND bk_biz_id = ANY($1::bigint[])";
/// Inserts sets, column by column.
pub(crate) const INSERT_SETS: &str = "INSERT INTO sets \
     (bk_set_id, bk_biz_id, bk_parent_id, name, builtin, doc) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::boolean[], \
                          $6::text[])";
/// Inserts the unique keys of sets.
pub(crate) const INSERT_KEYS: &str = "INSERT INTO set_unique_keys (storage_key, bk_set_id) \
     SELECT * FROM unnest($1::text[], $2::bigint[])";
/// Inserts modules.
pub(crate) const INSERT_MODULES: &str = "INSERT INTO modules \
     (bk_module_id, bk_set_id, bk_biz_id, doc) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])";
/// Inserts audit records.
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit (id, bk_biz_id, resource_type, doc) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])";
/// Adds what a transaction created to the listing counters.
pub(crate) const ADD_COUNTS: &str = "INSERT INTO listing_counts (name, n) \
     SELECT * FROM unnest($1::text[], $2::bigint[]) \
     ON CONFLICT (name) DO UPDATE SET n = listing_counts.n + excluded.n";
/// Writes sequences back.
pub(crate) const UPDATE_SEQUENCES: &str = "UPDATE sequences AS s SET last = v.last \
     FROM unnest($1::text[], $2::bigint[]) AS v(kind, last) WHERE s.kind = v.kind";

/// Writes the mainline levels of a tenant (a fixture load).
pub(crate) const UPSERT_MAINLINE: &str = "INSERT INTO mainline (bk_supplier_account, levels) \
     VALUES ($1, $2) ON CONFLICT (bk_supplier_account) DO UPDATE SET levels = excluded.levels";
/// Writes a business.
pub(crate) const UPSERT_BUSINESS: &str = "INSERT INTO businesses (bk_biz_id, doc) VALUES ($1, $2) \
     ON CONFLICT (bk_biz_id) DO UPDATE SET doc = excluded.doc";
/// Writes a mainline instance.
pub(crate) const UPSERT_INSTANCE: &str = "INSERT INTO mainline_instances (bk_inst_id, doc) \
     VALUES ($1, $2) ON CONFLICT (bk_inst_id) DO UPDATE SET doc = excluded.doc";
/// Writes a set attribute.
pub(crate) const UPSERT_ATTRIBUTE: &str = "INSERT INTO set_attributes \
     (bk_supplier_account, bk_property_id, ordinal, bk_biz_id, doc) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (bk_supplier_account, bk_property_id) DO UPDATE SET \
     ordinal = excluded.ordinal, bk_biz_id = excluded.bk_biz_id, doc = excluded.doc";
/// Inserts a unique rule (rules are never replaced).
pub(crate) const INSERT_RULE: &str =
    "INSERT INTO unique_rules (bk_supplier_account, rule_key, doc) VALUES ($1, $2, $3)";
/// Writes a service template.
pub(crate) const UPSERT_SERVICE_TEMPLATE: &str = "INSERT INTO service_templates (id, doc) \
     VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc";
/// Writes a set template.
pub(crate) const UPSERT_SET_TEMPLATE: &str = "INSERT INTO set_templates \
     (id, service_template_ids, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
     service_template_ids = excluded.service_template_ids, doc = excluded.doc";

/// Every catalog row of one kind (a fixture load reads the whole catalog).
pub(crate) const ALL_MAINLINE: &str = "SELECT bk_supplier_account, levels FROM mainline";
pub(crate) const ALL_BUSINESSES: &str = "SELECT doc FROM businesses";
pub(crate) const ALL_INSTANCES: &str = "SELECT doc FROM mainline_instances";
pub(crate) const ALL_ATTRIBUTES: &str = "SELECT doc FROM set_attributes";
pub(crate) const ALL_RULES: &str = "SELECT doc FROM unique_rules";
pub(crate) const ALL_SERVICE_TEMPLATES: &str = "SELECT doc FROM service_templates";
pub(crate) const ALL_SET_TEMPLATES: &str = "SELECT doc FROM set_templates";

/// The `BEGIN` of a write transaction at each isolation level.
pub(crate) const BEGIN_READ_COMMITTED: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
pub(crate) const BEGIN_SERIALIZABLE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";
/// Ends a write transaction (the last statement of its second flight).
pub(crate) const COMMIT: &str = "COMMIT";
/// Abandons a failed attempt at a write transaction.
pub(crate) const ROLLBACK: &str = "ROLLBACK";
/// The health check's round trip.
pub(crate) const PING: &str = "SELECT 1";

/// Everything a create reads, as one statement (one snapshot, one round trip).
const CREATE_FACTS: &str = "SELECT \
     (SELECT doc FROM businesses WHERE bk_biz_id = $1), \
     (SELECT levels FROM mainline WHERE bk_supplier_account = $2), \
     (SELECT doc FROM mainline_instances WHERE bk_inst_id = $3), \
     ARRAY(SELECT doc FROM set_attributes \
           WHERE bk_supplier_account = $2 AND (bk_biz_id = 0 OR bk_biz_id = $1) ORDER BY ordinal), \
     ARRAY(SELECT doc FROM unique_rules WHERE bk_supplier_account = $2 \
           ORDER BY rule_key COLLATE \"C\"), \
     (SELECT doc FROM set_templates WHERE id = $4), \
     ARRAY(SELECT st.doc FROM set_templates t \
           CROSS JOIN LATERAL unnest(t.service_template_ids) WITH ORDINALITY AS u(id, ord) \
           JOIN service_templates st ON st.id = u.id WHERE t.id = $4 ORDER BY u.ord), \
     (SELECT bk_set_id FROM sets WHERE bk_biz_id = $1 AND builtin), \
     (SELECT last FROM sequences WHERE kind = 'catalog')";

/// The `sequences` row holding the catalog version (schema version 2).
pub(crate) const CATALOG_VERSION: &str = "catalog";

pub(crate) const SELECT_SETS: &str = "SELECT doc FROM sets WHERE bk_biz_id = $1 ORDER BY bk_set_id";
pub(crate) const SELECT_ONE_SET: &str =
    "SELECT doc FROM sets WHERE bk_biz_id = $1 AND bk_set_id = $2";
pub(crate) const SELECT_MODULES: &str =
    "SELECT doc FROM modules WHERE bk_set_id = $1 ORDER BY bk_module_id";
pub(crate) const SELECT_AUDIT: &str = "SELECT doc FROM audit WHERE bk_biz_id = $1 ORDER BY id";
pub(crate) const SELECT_AUDIT_OF_TYPE: &str =
    "SELECT doc FROM audit WHERE bk_biz_id = $1 AND resource_type = $2 ORDER BY id";
/// The channel a committed create notifies (a wake-up for watchers on other engines).
pub(crate) const COMMITS_CHANNEL: &str = "cmdb_commits";
/// Sent in a create's transaction: delivered on commit to every engine listening.
pub(crate) const NOTIFY_COMMITS: &str = "NOTIFY cmdb_commits";
/// What a listening engine sends once on its listening connection.
pub(crate) const LISTEN_COMMITS: &str = "LISTEN cmdb_commits";
/// The event log's read: audit records of every biz after an id, a range of the primary key.
pub(crate) const SELECT_AUDIT_AFTER: &str =
    "SELECT doc FROM audit WHERE id > $1 ORDER BY id LIMIT $2";
/// A page of the sets of a biz (`$2` of them after the first `$3`) and the count of all of
/// them, in one statement (one snapshot): `count, docs[]`.
pub(crate) const PAGE_SETS: &str = "SELECT (SELECT COALESCE(sum(n), 0)::bigint FROM listing_counts \
     WHERE name = ANY($4::text[])), \
     ARRAY(SELECT doc FROM sets WHERE bk_biz_id = $1 ORDER BY bk_set_id LIMIT $2 OFFSET $3)";
/// [`PAGE_SETS`] for the modules of a set.
pub(crate) const PAGE_MODULES: &str = "SELECT (SELECT count(*) FROM modules WHERE bk_set_id = $1), ARRAY(SELECT doc FROM modules \
     WHERE bk_set_id = $1 ORDER BY bk_module_id LIMIT $2 OFFSET $3)";
/// [`PAGE_SETS`] for the audit records of a biz, of one resource type unless `$2` is null.
pub(crate) const PAGE_AUDIT: &str = "SELECT (SELECT COALESCE(sum(n), 0)::bigint FROM listing_counts \
     WHERE name = ANY($5::text[])), ARRAY(SELECT doc FROM audit \
     WHERE bk_biz_id = $1 AND ($2::text IS NULL OR resource_type = $2) ORDER BY id \
     LIMIT $3 OFFSET $4)";
pub(crate) const SELECT_BUSINESS: &str = "SELECT doc FROM businesses WHERE bk_biz_id = $1";
pub(crate) const SELECT_MAINLINE: &str =
    "SELECT levels FROM mainline WHERE bk_supplier_account = $1";
pub(crate) const SELECT_INSTANCE: &str = "SELECT doc FROM mainline_instances WHERE bk_inst_id = $1";
pub(crate) const SELECT_ATTRIBUTE: &str =
    "SELECT doc FROM set_attributes WHERE bk_supplier_account = $1 AND bk_property_id = $2";
pub(crate) const SELECT_UNIQUE_RULE: &str =
    "SELECT doc FROM unique_rules WHERE bk_supplier_account = $1 AND rule_key = $2";
pub(crate) const SELECT_SET_TEMPLATE: &str = "SELECT doc FROM set_templates WHERE id = $1";
pub(crate) const SELECT_SERVICE_TEMPLATE: &str = "SELECT doc FROM service_templates WHERE id = $1";
pub(crate) const SELECT_SEQUENCE: &str = "SELECT last FROM sequences WHERE kind = $1";

/// Decodes one stored JSON text.
pub(crate) fn decode<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| decode_error(what, e))
}

/// Encodes a value as JSON text.
pub(crate) fn encode(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(encode_error)
}

/// Runs a query and decodes the one JSON text column of at most one row.
pub(crate) async fn one_json<T: DeserializeOwned>(
    client: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<Option<T>, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(store_error)?;
    let row = client.query_opt(&stmt, params).await.map_err(store_error)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let text: String = row.try_get(0).map_err(corrupt)?;
            decode(&text, what).map(Some)
        }
    }
}

/// Runs one of the `PAGE_*` queries: the count, and the page's documents decoded.
pub(crate) async fn page(
    client: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<DocPage, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(store_error)?;
    let row = client.query_one(&stmt, params).await.map_err(store_error)?;
    let count: i64 = row.try_get(0).map_err(corrupt)?;
    let docs: Vec<String> = row.try_get(1).map_err(corrupt)?;
    Ok(DocPage {
        count: usize::try_from(count)
            .map_err(|_| StoreError::Corrupt(format!("a count of {count}").into()))?,
        docs: docs
            .iter()
            .map(|d| decode(d, what))
            .collect::<Result<_, _>>()?,
    })
}

/// Runs a query and decodes the one JSON text column of every row, in query order.
pub(crate) async fn all_json<T: DeserializeOwned>(
    client: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(store_error)?;
    let rows = client.query(&stmt, params).await.map_err(store_error)?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get(0).map_err(corrupt)?;
            decode(&text, what)
        })
        .collect()
}

/// A column that does not decode into the expected type: the schema is not ours.
pub(crate) fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(cmdb_core::error::Detail::caused_by(
        format!("a stored column does not decode: {e}"),
        e,
    ))
}

/// Everything a create reads, in one statement.
pub(crate) async fn create_facts(
    client: &ClientWrapper,
    query: &FactsQuery,
) -> Result<StoredFacts, StoreError> {
    let stmt = client
        .prepare_cached(CREATE_FACTS)
        .await
        .map_err(store_error)?;
    let row = client
        .query_one(
            &stmt,
            &[
                &query.biz.0,
                &query.supplier_account,
                &query.parent,
                &query.template,
            ],
        )
        .await
        .map_err(store_error)?;
    let version: Option<i64> = row.try_get(8).map_err(corrupt)?;
    let source = FactsSource::Read(catalog_version(version)?);
    let business: Option<String> = row.try_get(0).map_err(corrupt)?;
    let Some(business) = business else {
        return Ok(StoredFacts {
            source,
            ..StoredFacts::default()
        });
    };
    let business: Business = decode(&business, "business")?;
    let mainline: Option<String> = row.try_get(1).map_err(corrupt)?;
    let mainline: Vec<String> = match mainline {
        Some(text) => decode(&text, "mainline")?,
        None => Vec::new(),
    };
    let instance: Option<String> = row.try_get(2).map_err(corrupt)?;
    let parent_instance = match instance {
        Some(text) if query.parent.is_some() && !mainline.is_empty() => {
            Some(decode(&text, "mainline instance")?)
        }
        _ => None,
    };
    let attributes: Vec<String> = row.try_get(3).map_err(corrupt)?;
    let rules: Vec<String> = row.try_get(4).map_err(corrupt)?;
    let template: Option<String> = row.try_get(5).map_err(corrupt)?;
    let services: Vec<String> = row.try_get(6).map_err(corrupt)?;
    let builtin: Option<i64> = row.try_get(7).map_err(corrupt)?;
    Ok(StoredFacts {
        business: Some(business),
        mainline,
        parent_instance,
        attributes: attributes
            .iter()
            .map(|t| decode(t, "set attribute"))
            .collect::<Result<_, _>>()?,
        unique_rules: rules
            .iter()
            .map(|t| decode(t, "unique rule"))
            .collect::<Result<_, _>>()?,
        template: template
            .map(|t| decode::<SetTemplate>(&t, "set template"))
            .transpose()?,
        service_templates: services
            .iter()
            .map(|t| decode::<ServiceTemplate>(t, "service template"))
            .collect::<Result<_, _>>()?,
        builtin_set: builtin.map(SetId),
        source,
    })
}

/// The catalog version from its row: present and not negative, or the schema is not ours.
pub(crate) fn catalog_version(last: Option<i64>) -> Result<u64, StoreError> {
    last.and_then(|v| u64::try_from(v).ok()).ok_or_else(|| {
        StoreError::Corrupt("the sequences table holds no valid catalog version row".into())
    })
}

/// The last id handed out by a sequence (0 when none).
pub(crate) async fn sequence_last(
    client: &ClientWrapper,
    kind: SequenceKind,
) -> Result<i64, StoreError> {
    let stmt = client
        .prepare_cached(SELECT_SEQUENCE)
        .await
        .map_err(store_error)?;
    let row = client
        .query_opt(&stmt, &[&kind.name()])
        .await
        .map_err(store_error)?;
    match row {
        Some(r) => r.try_get(0).map_err(corrupt),
        None => Ok(0),
    }
}

/// Stored documents (sets, modules, audit records).
pub(crate) async fn documents(
    client: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<Vec<Document>, StoreError> {
    all_json(client, sql, params, what).await
}

/// The catalog object under `key`: one small read per kind.
pub(crate) async fn catalog_item(
    client: &ClientWrapper,
    key: CatalogKey,
) -> Result<Option<CatalogItem>, StoreError> {
    Ok(match key {
        CatalogKey::Mainline(sup) => one_json(client, SELECT_MAINLINE, &[&sup], "mainline")
            .await?
            .map(CatalogItem::Mainline),
        CatalogKey::Business(id) => one_json(client, SELECT_BUSINESS, &[&id.0], "business")
            .await?
            .map(CatalogItem::Business),
        CatalogKey::MainlineInstance(id) => {
            one_json(client, SELECT_INSTANCE, &[&id], "mainline instance")
                .await?
                .map(CatalogItem::MainlineInstance)
        }
        CatalogKey::Attribute {
            supplier_account,
            property_id,
        } => one_json(
            client,
            SELECT_ATTRIBUTE,
            &[&supplier_account, &property_id],
            "set attribute",
        )
        .await?
        .map(CatalogItem::Attribute),
        CatalogKey::UniqueRule {
            supplier_account,
            key,
        } => one_json(
            client,
            SELECT_UNIQUE_RULE,
            &[&supplier_account, &key],
            "unique rule",
        )
        .await?
        .map(CatalogItem::UniqueRule),
        CatalogKey::ServiceTemplate(id) => {
            one_json(client, SELECT_SERVICE_TEMPLATE, &[&id], "service template")
                .await?
                .map(CatalogItem::ServiceTemplate)
        }
        CatalogKey::SetTemplate(id) => {
            one_json(client, SELECT_SET_TEMPLATE, &[&id], "set template")
                .await?
                .map(CatalogItem::SetTemplate)
        }
    })
}

// The schema (schema.rs runs it).

/// The schema's version table, created when absent with version 0 (an empty database).
pub(crate) const CREATE_SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS cmdb_schema (\
     one boolean PRIMARY KEY DEFAULT true CHECK (one), version bigint NOT NULL); \
     INSERT INTO cmdb_schema (one, version) VALUES (true, 0) ON CONFLICT DO NOTHING";
/// Locks and reads the schema version (one migration at a time across engines).
pub(crate) const LOCK_SCHEMA_VERSION: &str = "SELECT version FROM cmdb_schema WHERE one FOR UPDATE";
/// Records the schema version a migration brought the database to.
pub(crate) const SET_SCHEMA_VERSION: &str = "UPDATE cmdb_schema SET version = $1";

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
    // Version 3: the sets of a biz in id order, so that a page of them is a range read.
    r#"
    CREATE INDEX sets_by_biz ON sets (bk_biz_id, bk_set_id);
    "#,
    // Version 4: the listing counters, so that a page's count is a point read: the size of
    // each biz's sets and of its audit records of each type, under the names
    // `cmdb_core::counter::Counter::name` gives, added to by every transaction that creates.
    // Counted under a lock that waits for the writers in flight and holds new ones off.
    r#"
    LOCK TABLE sequences IN EXCLUSIVE MODE;
    CREATE TABLE listing_counts (
        name text   PRIMARY KEY,
        n    bigint NOT NULL CHECK (n >= 0)
    );
    INSERT INTO listing_counts (name, n)
        SELECT 'count/sets/' || bk_biz_id, count(*) FROM sets GROUP BY bk_biz_id;
    INSERT INTO listing_counts (name, n)
        SELECT 'count/audit/' || bk_biz_id || '/' || resource_type, count(*)
        FROM audit GROUP BY bk_biz_id, resource_type;
    "#,
];
