//! The named numbers an embedded backend keeps beside its records: the last id of each
//! sequence, and the size of each listing a page counts, so that a page's count is a point
//! read whatever the size of the listing.

use std::borrow::Cow;

use crate::backend::DocQuery;
use crate::ids::{BizId, SequenceKind};
use crate::records::ResourceType;

/// A number a backend stores under [`Counter::name`] (see [`crate::backend::BackendRead::counter`]).
///
/// The domain reads each counter a transaction touches once and writes back those that
/// changed once, before the commit ([`crate::backend::SequencedTx::finish`]); a backend only
/// stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// The last id a sequence handed out.
    Sequence(SequenceKind),
    /// How many sets a biz holds.
    Sets(BizId),
    /// How many audit records of one resource type a biz holds.
    Audit(BizId, ResourceType),
}

impl Counter {
    /// The stable storage key: a sequence's kind name (`set`, `module`, …), `count/sets/{biz}`
    /// or `count/audit/{biz}/{type}`. A migration that backfills the listing counters of a
    /// store written before they existed writes exactly these names.
    pub fn name(&self) -> Cow<'static, str> {
        match *self {
            Counter::Sequence(kind) => Cow::Borrowed(kind.name()),
            Counter::Sets(biz) => Cow::Owned(format!("count/sets/{}", biz.0)),
            Counter::Audit(biz, of) => Cow::Owned(format!("count/audit/{}/{}", biz.0, of.name())),
        }
    }

    /// The counters whose sum is the size of the listing `query` names, or `None` for the
    /// listings that have none: one set (0 or 1) and the modules of a set (a set's modules
    /// are created with it and are few), which a backend counts as it reads them.
    pub fn of_listing(query: DocQuery) -> Option<Vec<Counter>> {
        match query {
            DocQuery::Sets { biz, set: None } => Some(vec![Counter::Sets(biz)]),
            DocQuery::Sets { set: Some(_), .. } | DocQuery::Modules { .. } => None,
            DocQuery::Audit { biz, resource_type } => Some(
                ResourceType::ALL
                    .into_iter()
                    .filter(|t| resource_type.is_none_or(|of| of == *t))
                    .map(|t| Counter::Audit(biz, t))
                    .collect(),
            ),
        }
    }
}

impl From<SequenceKind> for Counter {
    fn from(kind: SequenceKind) -> Self {
        Counter::Sequence(kind)
    }
}
