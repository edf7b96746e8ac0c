//! Id newtypes and the sequence value type that stores persist inside their transactions.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A business id (`bk_biz_id`).
    BizId
);
id_type!(
    /// A set id (`bk_set_id`).
    SetId
);
id_type!(
    /// A module id (`bk_module_id`).
    ModuleId
);
id_type!(
    /// An audit record id.
    AuditId
);

/// The kinds of id the stores allocate. Each has its own global sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SequenceKind {
    /// `bk_set_id`.
    Set,
    /// `bk_module_id`.
    Module,
    /// Audit record `id`.
    Audit,
    /// The definition order of custom attributes (internal, never shown).
    Attribute,
}

impl SequenceKind {
    /// Every kind, in a fixed order.
    pub const ALL: [SequenceKind; 4] = [
        SequenceKind::Set,
        SequenceKind::Module,
        SequenceKind::Audit,
        SequenceKind::Attribute,
    ];

    /// The kind's position in [`SequenceKind::ALL`] (for per-kind arrays).
    pub fn index(self) -> usize {
        match self {
            SequenceKind::Set => 0,
            SequenceKind::Module => 1,
            SequenceKind::Audit => 2,
            SequenceKind::Attribute => 3,
        }
    }

    /// The stable name of this kind, used as a storage key.
    pub fn name(self) -> &'static str {
        match self {
            SequenceKind::Set => "set",
            SequenceKind::Module => "module",
            SequenceKind::Audit => "audit",
            SequenceKind::Attribute => "attribute",
        }
    }

    /// The kind stored under `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        SequenceKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A contiguous range of freshly allocated ids: `first`, `first + 1`, … (`len` of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first id of the range.
    pub first: i64,
    /// How many ids the range holds.
    pub len: u64,
}

impl IdRange {
    /// The ids of the range, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = i64> {
        (0..self.len as i64).map(move |i| self.first + i)
    }
}

/// The state of one id sequence: the last id handed out (0 when none).
///
/// A value type: a store reads it inside its transaction, calls [`Sequence::take`] or
/// [`Sequence::raise_to`], and writes [`Sequence::last`] back in the same transaction. It never
/// goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sequence {
    last: i64,
}

/// The sequence would pass `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("id sequence exhausted")]
pub struct SequenceExhausted;

impl Sequence {
    /// A sequence whose last handed-out id is `last` (negative values count as 0).
    pub fn from_last(last: i64) -> Self {
        Sequence { last: last.max(0) }
    }

    /// The last id handed out, 0 when none.
    pub fn last(self) -> i64 {
        self.last
    }

    /// Hands out the next `count` ids as one range. `count` 0 gives an empty range.
    pub fn take(&mut self, count: u64) -> Result<IdRange, SequenceExhausted> {
        let n = i64::try_from(count).map_err(|_| SequenceExhausted)?;
        let end = self.last.checked_add(n).ok_or(SequenceExhausted)?;
        let range = IdRange {
            // Saturating: an empty range at the very end of the sequence must not overflow.
            first: self.last.saturating_add(1),
            len: count,
        };
        self.last = end;
        Ok(range)
    }

    /// Raises the sequence so the next id is above `value`; never lowers it.
    /// Returns whether the sequence changed.
    pub fn raise_to(&mut self, value: i64) -> bool {
        if value > self.last {
            self.last = value;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_hands_out_contiguous_ranges() {
        let mut s = Sequence::default();
        assert_eq!(s.take(1).unwrap(), IdRange { first: 1, len: 1 });
        let r = s.take(3).unwrap();
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(s.last(), 4);
        assert_eq!(s.take(0).unwrap().iter().count(), 0);
        assert_eq!(s.last(), 4);
    }

    #[test]
    fn raise_never_lowers() {
        let mut s = Sequence::from_last(10);
        assert!(!s.raise_to(5));
        assert_eq!(s.last(), 10);
        assert!(s.raise_to(4779));
        assert_eq!(s.take(1).unwrap().first, 4780);
    }

    #[test]
    fn exhaustion_is_an_error_not_a_wrap() {
        let mut s = Sequence::from_last(i64::MAX - 1);
        assert_eq!(s.take(1).unwrap().first, i64::MAX);
        assert_eq!(s.take(1), Err(SequenceExhausted));
        assert_eq!(s.last(), i64::MAX);
        // An empty range at the end is fine (a plan without modules takes 0 module ids).
        assert_eq!(s.take(0).unwrap().iter().count(), 0);
        assert_eq!(s.last(), i64::MAX);
    }

    #[test]
    fn kind_names_round_trip() {
        for k in SequenceKind::ALL {
            assert_eq!(SequenceKind::from_name(k.name()), Some(k));
        }
        assert_eq!(SequenceKind::from_name("host"), None);
    }
}
