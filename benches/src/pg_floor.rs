//! The PostgreSQL floor: the least SQL a create needs, grouped the way the store groups
//! creates, on the store's own schema. One writer task drains a queue; per group, one
//! transaction in two pipelined flights: `BEGIN` and the two counter bumps
//! (`UPDATE … RETURNING`), then the multi-row inserts of the set rows (the unique index checks
//! the name) and of their audit rows, and `COMMIT`. No catalog reads, no prefetch, no module.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cmdb_core::records::Document;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use crate::setup::{BIZ, template_set_doc};

/// The most creates per floor transaction (the store's default group cap).
const MAX_GROUP: usize = 256;

/// Submits creates to the floor's writer.
#[derive(Debug, Clone)]
pub struct PgFloor {
    queue: mpsc::Sender<(String, oneshot::Sender<()>)>,
    /// Transactions and creates committed.
    counts: Arc<(AtomicU64, AtomicU64)>,
}

struct Statements {
    bump: Statement,
    sets: Statement,
    audit: Statement,
}

impl PgFloor {
    /// Connects to `url` (a database with the store's schema) and starts the writer.
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn start(url: &str) -> PgFloor {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("the floor connects");
        tokio::spawn(connection);
        let stmts = Statements {
            bump: client
                .prepare("UPDATE sequences SET last = last + $1 WHERE kind = $2 RETURNING last")
                .await
                .expect("prepare"),
            sets: client
                .prepare(
                    "INSERT INTO sets (bk_set_id, bk_biz_id, bk_parent_id, name, builtin, doc) \
                     SELECT id, $2, $2, n, false, d \
                     FROM unnest($1::bigint[], $3::text[], $4::text[]) AS u(id, n, d)",
                )
                .await
                .expect("prepare"),
            audit: client
                .prepare(
                    "INSERT INTO audit (id, bk_biz_id, resource_type, doc) \
                     SELECT id, $2, 'set', d FROM unnest($1::bigint[], $3::text[]) AS u(id, d)",
                )
                .await
                .expect("prepare"),
        };
        let (queue, receiver) = mpsc::channel(1024);
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        tokio::spawn(write_loop(
            Arc::new(client),
            stmts,
            receiver,
            Arc::clone(&counts),
        ));
        PgFloor { queue, counts }
    }

    /// Transactions and creates committed so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.counts.0.load(Ordering::Relaxed),
            self.counts.1.load(Ordering::Relaxed),
        )
    }

    /// Creates one set named `name` and returns once its transaction committed.
    ///
    /// # Panics
    /// When the floor's writer failed.
    pub async fn create(&self, name: String) {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((name, reply))
            .await
            .expect("the floor writer runs");
        done.await.expect("the floor writer answers");
    }
}

async fn write_loop(
    client: Arc<Client>,
    stmts: Statements,
    mut receiver: mpsc::Receiver<(String, oneshot::Sender<()>)>,
    counts: Arc<(AtomicU64, AtomicU64)>,
) {
    let template = template_set_doc();
    while let Some(first) = receiver.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        commit(&client, &stmts, &template, &group).await;
        counts.0.fetch_add(1, Ordering::Relaxed);
        counts.1.fetch_add(group.len() as u64, Ordering::Relaxed);
        for (_, reply) in group {
            let _ = reply.send(());
        }
    }
}

async fn commit(
    client: &Client,
    stmts: &Statements,
    template: &Document,
    group: &[(String, oneshot::Sender<()>)],
) {
    let count = group.len() as i64;
    let set_bump: [&(dyn ToSql + Sync); 2] = [&count, &"set"];
    let audit_bump: [&(dyn ToSql + Sync); 2] = [&count, &"audit"];
    let (begin, sets, audit) = tokio::join!(
        client.batch_execute("BEGIN"),
        client.query_one(&stmts.bump, &set_bump),
        client.query_one(&stmts.bump, &audit_bump),
    );
    begin.expect("BEGIN");
    let last_set: i64 = sets.expect("the set counter").get(0);
    let last_audit: i64 = audit.expect("the audit counter").get(0);
    let mut set_ids = Vec::with_capacity(group.len());
    let mut names = Vec::with_capacity(group.len());
    let mut set_docs = Vec::with_capacity(group.len());
    let mut audit_ids = Vec::with_capacity(group.len());
    let mut audit_docs = Vec::with_capacity(group.len());
    for (i, (name, _)) in group.iter().enumerate() {
        let id = last_set - count + 1 + i as i64;
        let mut doc = template.clone();
        doc.insert("bk_set_name".into(), json!(name));
        doc.insert("bk_set_id".into(), json!(id));
        let audit = json!({"id": last_audit - count + 1 + i as i64, "resource_id": id,
                           "operation_detail": {"details": {"cur_data": Value::Object(doc.clone())}}});
        set_ids.push(id);
        names.push(name.clone());
        set_docs.push(serde_json::to_string(&doc).expect("JSON"));
        audit_ids.push(last_audit - count + 1 + i as i64);
        audit_docs.push(audit.to_string());
    }
    let set_rows: [&(dyn ToSql + Sync); 4] = [&set_ids, &BIZ.0, &names, &set_docs];
    let audit_rows: [&(dyn ToSql + Sync); 3] = [&audit_ids, &BIZ.0, &audit_docs];
    let (s, a, c) = tokio::join!(
        client.execute(&stmts.sets, &set_rows),
        client.execute(&stmts.audit, &audit_rows),
        client.batch_execute("COMMIT"),
    );
    s.expect("the set rows");
    a.expect("the audit rows");
    c.expect("COMMIT");
}
