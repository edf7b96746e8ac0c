//! Brings a store of an older layout version to [`FORMAT_VERSION`] when it is opened: version
//! 1 lacks the listing counters (sets per biz, audit records per biz and type) that version 2
//! keeps in the `sequences` tree, so they are counted from the index trees and written with
//! the new format marker in one transaction.

use std::collections::BTreeMap;

use cmdb_core::StoreError;
use cmdb_core::counter::Counter;
use cmdb_core::ids::BizId;
use cmdb_core::records::ResourceType;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::backend::Handles;
use crate::codec::{decode, encode, hex};
use crate::error::map_sled_error;
use crate::layout::{FORMAT_KEY, FORMAT_VERSION, T, trailing_id};
use crate::sidecar::FormatMarker;

/// Upgrades a store whose marker says `found` (the open holds the directory lock, so nothing
/// else writes meanwhile), writing `marker`; a store at [`FORMAT_VERSION`] is left alone.
///
/// # Errors
/// [`StoreError::Corrupt`] for an index key or value that does not decode; sled failures.
pub(crate) fn to_current(
    handles: &Handles,
    found: u32,
    marker: &FormatMarker,
) -> Result<(), StoreError> {
    if found >= FORMAT_VERSION {
        return Ok(());
    }
    let counts = listing_counts(handles)?;
    let trees = (handles.tree(T::Sequences), handles.tree(T::Meta));
    let written = trees.transaction(|(sequences, meta)| {
        for (counter, n) in &counts {
            sequences.insert(counter.name().as_bytes(), encode(n).map_err(abort)?)?;
        }
        meta.insert(FORMAT_KEY, encode(marker).map_err(abort)?)?;
        Ok(())
    });
    written.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => map_sled_error(e),
    })?;
    handles.flush()
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// The size of every counted listing, from the `sets_by_biz` and `audit_by_biz` trees.
fn listing_counts(handles: &Handles) -> Result<BTreeMap<Counter, i64>, StoreError> {
    let mut counts = BTreeMap::new();
    for (t, of_audit) in [(T::SetsByBiz, false), (T::AuditByBiz, true)] {
        for entry in handles.tree(t).iter() {
            let (key, value) = entry.map_err(map_sled_error)?;
            let Some(biz) = key
                .get(..8)
                .filter(|_| key.len() == 16)
                .and_then(trailing_id)
            else {
                let why = format!("tree `{}`: malformed index key {}", t.name(), hex(&key));
                return Err(StoreError::Corrupt(why.into()));
            };
            let biz = BizId(biz);
            let counter = if of_audit {
                let kind: ResourceType = decode(t.name(), &key, &value)?;
                Counter::Audit(biz, kind)
            } else {
                Counter::Sets(biz)
            };
            *counts.entry(counter).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
