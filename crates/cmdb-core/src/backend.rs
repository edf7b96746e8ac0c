//! The backend contract of the embedded stores: the few point and list calls a storage engine
//! answers ([`BackendRead`] for a snapshot, [`BackendTx`] for a write transaction), and the
//! domain code that turns them into everything else — [`SequencedTx`], the domain's
//! [`StoreTx`]/[`GroupTx`] over a backend transaction (ids, probes, inserts, savepoints), and
//! [`read_facts`], the create facts assembled from a snapshot.
//!
//! A backend implements eleven methods here (six reads, five writes); `cmdb-store-group`'s
//! `Backend` adds two (open a write transaction, open a snapshot) and runs everything else —
//! group commit, atomic batches, catalog loads, reads, close — once for every engine.

use crate::catalog::{StoredAttribute, UniqueRule};
use crate::catalog_key::{CatalogEntry, CatalogItem, CatalogKey};
use crate::counter::Counter;
use crate::error::{Detail, StoreError};
use crate::facts::{FactsQuery, FactsSource, StoredFacts};
use crate::ids::{AuditId, BizId, IdRange, Sequence, SequenceKind, SetId};
use crate::listing::{DocPage, Window};
use crate::records::{AuditRecord, Document, ModuleRecord, ResourceType, SetRecord, UniqueKey};
use crate::tx::{GroupTx, StoreTx};

/// One of the three indexes that guard a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKey<'a> {
    /// The name of a set under its parent in a biz (names are case-sensitive, exact).
    Name {
        /// The biz.
        biz: BizId,
        /// `bk_parent_id`.
        parent: i64,
        /// The trimmed name.
        name: &'a str,
    },
    /// A custom unique key a set occupies.
    Unique(&'a UniqueKey),
    /// The built-in set of a biz.
    Builtin(BizId),
}

impl SetRecord {
    /// The index entries the set occupies, each pointing at its id: its name under its
    /// parent, each custom unique key, and its biz's built-in slot when it is the built-in
    /// set. What [`BackendRead::probe`] looks up is exactly these.
    pub fn index_keys(&self) -> impl Iterator<Item = IndexKey<'_>> {
        let name = IndexKey::Name {
            biz: self.biz,
            parent: self.parent,
            name: &self.name,
        };
        let builtin = self.builtin.then_some(IndexKey::Builtin(self.biz));
        std::iter::once(name)
            .chain(self.unique_keys.iter().map(IndexKey::Unique))
            .chain(builtin)
    }
}

/// A record to insert, with the indexes it occupies (a set's name, unique keys and built-in
/// marker; a module's and an audit record's place in the reads by set and by biz).
#[derive(Debug, Clone, Copy)]
pub enum Record<'a> {
    /// A set.
    Set(&'a SetRecord),
    /// A module.
    Module(&'a ModuleRecord),
    /// An audit record.
    Audit(&'a AuditRecord),
}

/// A list of catalog objects of one tenant, in any order (the domain orders them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogList<'a> {
    /// Every custom set attribute of the tenant (any biz); answered as
    /// [`CatalogItem::Attribute`]s.
    Attributes {
        /// The tenant.
        supplier_account: &'a str,
    },
    /// Every custom unique rule of the tenant; answered as [`CatalogItem::UniqueRule`]s.
    UniqueRules {
        /// The tenant.
        supplier_account: &'a str,
    },
}

impl CatalogList<'_> {
    /// The smallest key of the list in [`CatalogKey`]'s order: a backend keeping catalog
    /// objects ordered by key reads the list as the keys from this one on, while
    /// [`CatalogList::contains`] holds.
    pub fn first_key(&self) -> CatalogKey {
        match *self {
            CatalogList::Attributes { supplier_account } => CatalogKey::Attribute {
                supplier_account: supplier_account.to_owned(),
                property_id: String::new(),
            },
            CatalogList::UniqueRules { supplier_account } => CatalogKey::UniqueRule {
                supplier_account: supplier_account.to_owned(),
                key: String::new(),
            },
        }
    }

    /// Whether `key` is the key of an object of the list.
    pub fn contains(&self, key: &CatalogKey) -> bool {
        match (*self, key) {
            (
                CatalogList::Attributes { supplier_account },
                CatalogKey::Attribute {
                    supplier_account: tenant,
                    ..
                },
            )
            | (
                CatalogList::UniqueRules { supplier_account },
                CatalogKey::UniqueRule {
                    supplier_account: tenant,
                    ..
                },
            ) => supplier_account == tenant,
            _ => false,
        }
    }
}

/// A read of stored documents, answered in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocQuery {
    /// The sets of a biz; only `set` when given (none when it is of another biz).
    Sets {
        /// The biz.
        biz: BizId,
        /// One set only.
        set: Option<SetId>,
    },
    /// The modules of a set.
    Modules {
        /// The set.
        set: SetId,
    },
    /// The audit records of a biz, of one resource type when given.
    Audit {
        /// The biz.
        biz: BizId,
        /// Only records of this type.
        resource_type: Option<ResourceType>,
    },
}

/// What a snapshot of a backend answers: point reads, tenant lists and documents.
///
/// # Contract
/// - Every answer of one snapshot (or of one write transaction, which also reads) comes from
///   one consistent state, which includes the writes made earlier through the transaction.
/// - Reads MUST return what was stored exactly (documents bit for bit).
/// - Methods MUST only fail for storage reasons (a value that does not decode is
///   [`StoreError::Corrupt`]).
pub trait BackendRead {
    /// The catalog object under `key`, `None` when none is stored.
    ///
    /// # Errors
    /// Storage failures only.
    fn catalog_get(&mut self, key: &CatalogKey) -> Result<Option<CatalogItem>, StoreError>;
    /// The catalog objects of one tenant `list` names, in any order.
    ///
    /// # Errors
    /// Storage failures only.
    fn catalog_list(&mut self, list: CatalogList<'_>) -> Result<Vec<CatalogItem>, StoreError>;
    /// The set occupying an index entry, if one does.
    ///
    /// # Errors
    /// Storage failures only.
    fn probe(&mut self, key: IndexKey<'_>) -> Result<Option<SetId>, StoreError>;
    /// The documents `query` asks for, in id order: the whole listing as one page.
    ///
    /// # Errors
    /// Storage failures only.
    fn documents(&mut self, query: DocQuery) -> Result<Vec<Document>, StoreError> {
        Ok(self.page(query, Window::ALL)?.docs)
    }
    /// One page of what `query` asks for, in id order, with the count of the whole listing.
    ///
    /// # Contract
    /// - A range read that decodes only the page's documents.
    /// - The count of a listing with stored counters is [`BackendRead::listing_count`]
    ///   ([`Window::cut_known`] then stops at the page's end); the others are counted as read.
    ///
    /// # Errors
    /// Storage failures only.
    fn page(&mut self, query: DocQuery, window: Window) -> Result<DocPage, StoreError>;
    /// The audit records whose id is above `after`, of every biz, tenant and type, in id order,
    /// at most `limit` of them: the event log's read (see [`crate::ports::SetStore::audit_after`]).
    /// It MUST be a range read of an index in id order, not a scan of the whole log.
    ///
    /// # Errors
    /// Storage failures only.
    fn audit_after(&mut self, after: AuditId, limit: usize) -> Result<Vec<Document>, StoreError>;
    /// The number stored under `counter` (0 when none): a sequence's last id, or the size of
    /// a listing.
    ///
    /// # Errors
    /// Storage failures only.
    fn counter(&mut self, counter: Counter) -> Result<i64, StoreError>;
    /// The size of the listing `query` names, from its stored counters
    /// ([`Counter::of_listing`]); `None` for a listing without any, which the backend counts
    /// as it reads it.
    ///
    /// # Errors
    /// Storage failures, or a negative counter ([`StoreError::Corrupt`]).
    fn listing_count(&mut self, query: DocQuery) -> Result<Option<usize>, StoreError> {
        let Some(counters) = Counter::of_listing(query) else {
            return Ok(None);
        };
        let mut total = 0usize;
        for counter in counters {
            let n = self.counter(counter)?;
            let n = usize::try_from(n).map_err(|_| negative(counter, n))?;
            total = total.saturating_add(n);
        }
        Ok(Some(total))
    }
}

/// A counter that holds a negative number: a damaged store.
fn negative(counter: Counter, n: i64) -> StoreError {
    StoreError::Corrupt(format!("counter {} holds a negative value {n}", counter.name()).into())
}

/// One open write transaction of a backend.
///
/// # Contract
/// - Everything [`BackendRead`] promises, over the transaction's own state.
/// - Nothing written is visible to others before the backend commits; a transaction that is
///   not committed leaves no trace.
/// - After [`BackendTx::rollback_to_savepoint`], every read answers as it did at
///   [`BackendTx::savepoint`]; [`BackendTx::release_savepoint`] keeps the writes since.
///   The domain never nests savepoints.
pub trait BackendTx: BackendRead {
    /// Stores the number of a counter (a sequence's last id, a listing's size).
    ///
    /// # Errors
    /// Storage failures only.
    fn put_counter(&mut self, counter: Counter, value: i64) -> Result<(), StoreError>;
    /// Inserts a record and its index entries. The domain probed the indexes through this
    /// transaction first; a backend whose own indexes refuse it anyway reports it.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] when the backend's own index refuses it.
    fn insert(&mut self, record: Record<'_>) -> Result<(), StoreError>;
    /// Stores a catalog object, replacing the one under its key.
    ///
    /// # Errors
    /// Storage failures only.
    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError>;
    /// Marks the current state.
    ///
    /// # Errors
    /// Storage failures only.
    fn savepoint(&mut self) -> Result<(), StoreError>;
    /// Undoes what was written since the mark, and drops the mark.
    ///
    /// # Errors
    /// Storage failures only.
    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError>;
    /// Keeps what was written since the mark, and drops the mark. The default does nothing
    /// (a backend whose savepoints are only marks).
    ///
    /// # Errors
    /// Storage failures only.
    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The sequences of one transaction, kept in memory from their first use until
/// [`SequencedTx::finish`] writes back those that changed.
#[derive(Debug, Clone, Copy, Default)]
struct Sequences {
    /// Per kind (indexed like [`SequenceKind::ALL`]): the current state and the value stored
    /// when it was read, once read.
    slots: [Option<(Sequence, i64)>; 4],
}

/// The listing counters one transaction touched: each read once, bumped in memory as sets and
/// audit records are inserted, and written back by [`SequencedTx::finish`] when changed.
#[derive(Debug, Default)]
struct Counts {
    /// The counter, the number stored when it was read, the current number.
    slots: Vec<(Counter, i64, i64)>,
    /// While a savepoint is open: (slot, number before the bump) for every bump since.
    undo: Vec<(usize, i64)>,
}

/// The domain's [`StoreTx`] and [`GroupTx`] over a backend transaction: ids come from
/// sequences read once and written back by [`SequencedTx::finish`], the index checks are
/// [`BackendRead::probe`], the inserts [`BackendTx::insert`] (each set and audit record
/// counted in its listing's [`Counter`], kept like the sequences), and a savepoint also keeps
/// a copy of the sequences and of the counts.
///
/// A store MUST call [`SequencedTx::finish`] before committing.
#[derive(Debug)]
pub struct SequencedTx<'t, T: BackendTx + ?Sized> {
    tx: &'t mut T,
    sequences: Sequences,
    counts: Counts,
    /// The sequences as they were at the open savepoint.
    savepoint: Option<Sequences>,
}

impl<'t, T: BackendTx + ?Sized> SequencedTx<'t, T> {
    /// The domain's view of `tx`.
    pub fn new(tx: &'t mut T) -> Self {
        SequencedTx {
            tx,
            sequences: Sequences::default(),
            counts: Counts::default(),
            savepoint: None,
        }
    }

    /// Writes back the sequences and counters that changed. Call it once the domain's work
    /// returned `Ok`, before the commit.
    ///
    /// # Errors
    /// Storage failures.
    pub fn finish(self) -> Result<(), StoreError> {
        for kind in SequenceKind::ALL {
            if let Some((current, stored)) = self.sequences.slots[kind.index()]
                && current.last() != stored
            {
                self.tx
                    .put_counter(Counter::Sequence(kind), current.last())?;
            }
        }
        for &(counter, stored, current) in &self.counts.slots {
            if current != stored {
                self.tx.put_counter(counter, current)?;
            }
        }
        Ok(())
    }

    /// Counts one more item in `counter`'s listing.
    fn bump(&mut self, counter: Counter) -> Result<(), StoreError> {
        let slots = &mut self.counts.slots;
        let slot = match slots.iter().rposition(|(c, _, _)| *c == counter) {
            Some(slot) => slot,
            None => {
                let stored = self.tx.counter(counter)?;
                if stored < 0 {
                    return Err(negative(counter, stored));
                }
                slots.push((counter, stored, stored));
                slots.len() - 1
            }
        };
        let current = &mut slots[slot].2;
        if self.savepoint.is_some() {
            self.counts.undo.push((slot, *current));
        }
        *current = current.checked_add(1).ok_or_else(|| {
            StoreError::Corrupt(format!("counter {} overflows", counter.name()).into())
        })?;
        Ok(())
    }

    fn sequence(&mut self, kind: SequenceKind) -> Result<&mut Sequence, StoreError> {
        let cell = &mut self.sequences.slots[kind.index()];
        if cell.is_none() {
            let stored = self.tx.counter(Counter::Sequence(kind))?;
            if stored < 0 {
                return Err(StoreError::Corrupt(
                    format!("sequence {} holds a negative value {stored}", kind.name()).into(),
                ));
            }
            *cell = Some((Sequence::from_last(stored), stored));
        }
        match cell {
            Some((current, _)) => Ok(current),
            None => Err(StoreError::Backend("a sequence was not loaded".into())),
        }
    }
}

impl<T: BackendTx + ?Sized> StoreTx for SequencedTx<'_, T> {
    fn take_ids(&mut self, kind: SequenceKind, count: u64) -> Result<IdRange, StoreError> {
        let sequence = self.sequence(kind)?;
        if count == 0 {
            // Nothing to hand out (`Sequence::take(0)` computes `last + 1`, which overflows
            // at `i64::MAX`).
            return Ok(IdRange {
                first: sequence.last().saturating_add(1),
                len: 0,
            });
        }
        sequence
            .take(count)
            .map_err(|e| StoreError::Backend(Detail::caused_by(format!("{} {e}", kind.name()), e)))
    }

    fn raise_sequence(&mut self, kind: SequenceKind, value: i64) -> Result<bool, StoreError> {
        Ok(self.sequence(kind)?.raise_to(value))
    }

    fn set_name_taken(&mut self, biz: BizId, parent: i64, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .probe(IndexKey::Name { biz, parent, name })?
            .is_some())
    }

    fn unique_key_taken(&mut self, key: &UniqueKey) -> Result<bool, StoreError> {
        Ok(self.tx.probe(IndexKey::Unique(key))?.is_some())
    }

    fn builtin_set(&mut self, biz: BizId) -> Result<Option<SetId>, StoreError> {
        self.tx.probe(IndexKey::Builtin(biz))
    }

    fn insert_set(&mut self, record: &SetRecord) -> Result<(), StoreError> {
        self.tx.insert(Record::Set(record))?;
        self.bump(Counter::Sets(record.biz))
    }

    fn insert_module(&mut self, record: &ModuleRecord) -> Result<(), StoreError> {
        self.tx.insert(Record::Module(record))
    }

    fn insert_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        self.tx.insert(Record::Audit(record))?;
        self.bump(Counter::Audit(record.biz, record.resource_type))
    }

    fn catalog_get(&mut self, key: CatalogKey) -> Result<Option<CatalogItem>, StoreError> {
        self.tx.catalog_get(&key)
    }

    fn catalog_put(&mut self, entry: CatalogEntry<'_>) -> Result<(), StoreError> {
        self.tx.catalog_put(entry)
    }
}

impl<T: BackendTx + ?Sized> GroupTx for SequencedTx<'_, T> {
    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.tx.savepoint()?;
        self.savepoint = Some(self.sequences);
        self.counts.undo.clear();
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.savepoint = None;
        self.counts.undo.clear();
        self.tx.release_savepoint()
    }

    fn rollback_to_savepoint(&mut self) -> Result<(), StoreError> {
        let sequences = self
            .savepoint
            .take()
            .ok_or_else(|| StoreError::Backend("no savepoint to roll back to".into()))?;
        self.sequences = sequences;
        while let Some((slot, before)) = self.counts.undo.pop() {
            self.counts.slots[slot].2 = before;
        }
        self.tx.rollback_to_savepoint()
    }
}

/// Everything a create reads ([`StoredFacts`]), from one snapshot of a backend: the business
/// (none: [`StoredFacts::default`]), the tenant's mainline, the parent instance when the
/// mainline has custom levels, the attributes visible in the biz by ordinal, the tenant's
/// unique rules by key, the template with the service templates that exist, and the built-in
/// set.
///
/// # Errors
/// Storage failures, or a backend answering a key with another kind of object.
pub fn read_facts<R: BackendRead + ?Sized>(
    read: &mut R,
    query: &FactsQuery,
) -> Result<StoredFacts, StoreError> {
    use crate::catalog_key::{
        as_business, as_instance, as_mainline, as_service_template, as_set_template,
    };
    let get = |read: &mut R, key: CatalogKey| {
        let kind = key.kind();
        read.catalog_get(&key).map(|item| (item, kind))
    };
    let (item, kind) = get(read, CatalogKey::Business(query.biz))?;
    let Some(business) = as_business(item, kind)? else {
        return Ok(StoredFacts::default());
    };
    let sup = query.supplier_account.as_str();
    let (item, kind) = get(read, CatalogKey::Mainline(sup.to_owned()))?;
    let mainline = as_mainline(item, kind)?.unwrap_or_default();
    let parent_instance = match query.parent {
        Some(id) if !mainline.is_empty() => {
            let (item, kind) = get(read, CatalogKey::MainlineInstance(id))?;
            as_instance(item, kind)?
        }
        _ => None,
    };
    let template = match query.template {
        Some(id) => {
            let (item, kind) = get(read, CatalogKey::SetTemplate(id))?;
            as_set_template(item, kind)?
        }
        None => None,
    };
    let mut service_templates = Vec::new();
    for id in template.iter().flat_map(|t| t.service_template_ids.iter()) {
        let (item, kind) = get(read, CatalogKey::ServiceTemplate(*id))?;
        service_templates.extend(as_service_template(item, kind)?);
    }
    Ok(StoredFacts {
        business: Some(business),
        mainline,
        parent_instance,
        attributes: visible_attributes(read, sup, query.biz)?,
        unique_rules: unique_rules(read, sup)?,
        template,
        service_templates,
        builtin_set: read.probe(IndexKey::Builtin(query.biz))?,
        source: FactsSource::Unversioned,
    })
}

/// The custom set attributes of a tenant visible in `biz` (its own and the tenant-wide ones),
/// in [`StoredAttribute::ordinal`] order.
fn visible_attributes<R: BackendRead + ?Sized>(
    read: &mut R,
    supplier_account: &str,
    biz: BizId,
) -> Result<Vec<StoredAttribute>, StoreError> {
    let mut found = Vec::new();
    for item in read.catalog_list(CatalogList::Attributes { supplier_account })? {
        match item {
            CatalogItem::Attribute(a) if a.raw.bk_biz_id == 0 || a.raw.bk_biz_id == biz.0 => {
                found.push(a);
            }
            CatalogItem::Attribute(_) => {}
            _ => return Err(wrong_kind("attribute")),
        }
    }
    found.sort_by(|a, b| {
        (a.ordinal, &a.raw.bk_property_id).cmp(&(b.ordinal, &b.raw.bk_property_id))
    });
    Ok(found)
}

/// The custom unique rules of a tenant, in [`UniqueRule::key`] order.
fn unique_rules<R: BackendRead + ?Sized>(
    read: &mut R,
    supplier_account: &str,
) -> Result<Vec<UniqueRule>, StoreError> {
    let mut found = Vec::new();
    for item in read.catalog_list(CatalogList::UniqueRules { supplier_account })? {
        match item {
            CatalogItem::UniqueRule(rule) => found.push((rule.key(), rule)),
            _ => return Err(wrong_kind("unique rule")),
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found.into_iter().map(|(_, rule)| rule).collect())
}

fn wrong_kind(wanted: &str) -> StoreError {
    StoreError::Backend(format!("the store answered a list of {wanted}s with another kind").into())
}
