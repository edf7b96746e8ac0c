//! The on-disk layout: tree names, key encodings, the format marker and the files of a store
//! directory.
//!
//! Every integer in a key is an `i64` cast to `u64` and written big-endian. The cast is
//! injective, and for the positive ids the store holds it keeps numeric order, so a scan of a
//! tree (or of a key prefix) follows id order. Strings that are followed by more key bytes are
//! prefixed with their length (`u32` big-endian) so that no two keys collide.
//!
//! | tree | key | value |
//! |---|---|---|
//! | [`META`] | `format` | the format marker ([`FORMAT_VERSION`]) |
//! | [`SEQUENCES`] | sequence name (`set`, `module`, `audit`, `attribute`), or a listing counter's [`Counter::name`](cmdb_core::counter::Counter::name) | last id handed out, or the listing's size |
//! | [`SETS`] | set id | the set document |
//! | [`SETS_BY_BIZ`] | biz ++ set id | empty |
//! | [`SET_NAMES`] | biz ++ parent ++ name bytes | set id |
//! | [`SET_UNIQUE`] | [`UniqueKey::storage_key`](cmdb_core::records::UniqueKey::storage_key) | set id |
//! | [`BUILTIN_SETS`] | biz | set id |
//! | [`MODULES`] | module id | the module document |
//! | [`MODULES_BY_SET`] | set id ++ module id | empty |
//! | [`AUDIT`] | audit id | the audit document |
//! | [`AUDIT_BY_BIZ`] | biz ++ audit id | the resource type (`"set"` / `"module"`) |
//! | [`BUSINESSES`] | biz | the business |
//! | [`MAINLINE`] | tenant | the custom levels, top first |
//! | [`MAINLINE_INSTANCES`] | instance id | the instance |
//! | [`ATTRIBUTES`] | tenant (length-prefixed) ++ property id | the stored attribute |
//! | [`UNIQUE_RULES`] | tenant (length-prefixed) ++ rule key | the rule |
//! | [`SERVICE_TEMPLATES`] | template id | the template |
//! | [`SET_TEMPLATES`] | template id | the template |
//!
//! Non-empty values use the versioned encoding of [`crate::codec`]: one version byte, then JSON.

/// Format marker and layout version.
pub const META: &str = "meta";
/// Id sequences, one key per sequence kind, and the listing counters.
pub const SEQUENCES: &str = "sequences";
/// Set documents by set id.
pub const SETS: &str = "sets";
/// Sets of a biz, in set id order.
pub const SETS_BY_BIZ: &str = "sets_by_biz";
/// The set name index: unique per biz and parent.
pub const SET_NAMES: &str = "set_names";
/// The custom unique key index.
pub const SET_UNIQUE: &str = "set_unique";
/// The built-in set of each biz.
pub const BUILTIN_SETS: &str = "builtin_sets";
/// Module documents by module id.
pub const MODULES: &str = "modules";
/// Modules of a set, in module id order.
pub const MODULES_BY_SET: &str = "modules_by_set";
/// Audit documents by audit id.
pub const AUDIT: &str = "audit";
/// Audit records of a biz, in id order, with their resource type.
pub const AUDIT_BY_BIZ: &str = "audit_by_biz";
/// Businesses by id.
pub const BUSINESSES: &str = "businesses";
/// Mainline custom levels by tenant.
pub const MAINLINE: &str = "mainline";
/// Mainline instances by id.
pub const MAINLINE_INSTANCES: &str = "mainline_instances";
/// Custom set attributes by tenant and property id.
pub const ATTRIBUTES: &str = "attributes";
/// Custom unique rules by tenant and rule key.
pub const UNIQUE_RULES: &str = "unique_rules";
/// Service templates by id.
pub const SERVICE_TEMPLATES: &str = "service_templates";
/// Set templates by id.
pub const SET_TEMPLATES: &str = "set_templates";

/// The key of the format marker in [`META`].
pub const FORMAT_KEY: &[u8] = b"format";
/// The layout version this crate writes (and the newest it reads). Version 2 adds the
/// listing counters to [`SEQUENCES`]; a version-1 store gets them on its first open by this
/// build.
pub const FORMAT_VERSION: u32 = 2;
/// The name written with the format marker.
pub const FORMAT_NAME: &str = "cmdb-store-sled";

/// The file, next to sled's own, that records that the directory holds a store of ours (see
/// [`crate::sidecar`]).
pub const SIDECAR_FILE: &str = "cmdb-store-sled.json";

/// sled's log file inside its directory; sled holds a `flock` on it while a handle is open.
pub const SLED_LOG_FILE: &str = "db";

/// The trees of the store, in a fixed order: the index of each in a transaction's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum T {
    Meta,
    Sequences,
    Sets,
    SetsByBiz,
    SetNames,
    SetUnique,
    BuiltinSets,
    Modules,
    ModulesBySet,
    Audit,
    AuditByBiz,
    Businesses,
    Mainline,
    MainlineInstances,
    Attributes,
    UniqueRules,
    ServiceTemplates,
    SetTemplates,
}

impl T {
    /// Every tree, in index order.
    pub(crate) const ALL: [T; 18] = [
        T::Meta,
        T::Sequences,
        T::Sets,
        T::SetsByBiz,
        T::SetNames,
        T::SetUnique,
        T::BuiltinSets,
        T::Modules,
        T::ModulesBySet,
        T::Audit,
        T::AuditByBiz,
        T::Businesses,
        T::Mainline,
        T::MainlineInstances,
        T::Attributes,
        T::UniqueRules,
        T::ServiceTemplates,
        T::SetTemplates,
    ];

    /// How many trees a create's transaction spans: the first ones of [`T::ALL`], from
    /// [`T::Meta`] to [`T::AuditByBiz`] (sequences, sets and their indexes, modules, audit). The
    /// catalog trees after them are left out of creates.
    pub(crate) const CREATES: usize = T::AuditByBiz as usize + 1;

    /// The sled tree name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            T::Meta => META,
            T::Sequences => SEQUENCES,
            T::Sets => SETS,
            T::SetsByBiz => SETS_BY_BIZ,
            T::SetNames => SET_NAMES,
            T::SetUnique => SET_UNIQUE,
            T::BuiltinSets => BUILTIN_SETS,
            T::Modules => MODULES,
            T::ModulesBySet => MODULES_BY_SET,
            T::Audit => AUDIT,
            T::AuditByBiz => AUDIT_BY_BIZ,
            T::Businesses => BUSINESSES,
            T::Mainline => MAINLINE,
            T::MainlineInstances => MAINLINE_INSTANCES,
            T::Attributes => ATTRIBUTES,
            T::UniqueRules => UNIQUE_RULES,
            T::ServiceTemplates => SERVICE_TEMPLATES,
            T::SetTemplates => SET_TEMPLATES,
        }
    }

    /// The position of the tree in [`T::ALL`] and in a transaction's views.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The key of an id: the `i64` as `u64`, big-endian.
pub fn id_key(id: i64) -> [u8; 8] {
    // Injective for every i64; order-preserving for the non-negative ids the store holds.
    (id as u64).to_be_bytes()
}

/// The key of a pair of ids, e.g. biz ++ set id.
pub fn pair_key(a: i64, b: i64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id_key(a));
    key[8..].copy_from_slice(&id_key(b));
    key
}

/// The id encoded in the last 8 bytes of `key`, if it has that many.
pub(crate) fn trailing_id(key: &[u8]) -> Option<i64> {
    let start = key.len().checked_sub(8)?;
    let bytes: [u8; 8] = key[start..].try_into().ok()?;
    Some(u64::from_be_bytes(bytes) as i64)
}

/// The key prefix of a tenant: its byte length (`u32` big-endian), then its bytes.
pub fn tenant_prefix(supplier_account: &str) -> Vec<u8> {
    let bytes = supplier_account.as_bytes();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let mut key = Vec::with_capacity(4 + bytes.len());
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(bytes);
    key
}

/// The key of something a tenant names: [`tenant_prefix`] ++ `name`.
pub fn tenant_key(supplier_account: &str, name: &str) -> Vec<u8> {
    let mut key = tenant_prefix(supplier_account);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The set-name index key: biz ++ parent ++ name bytes.
pub fn set_name_key(biz: i64, parent: i64, name: &str) -> Vec<u8> {
    let mut key = pair_key(biz, parent).to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_indexes_follow_all() {
        for (i, t) in T::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
        let mut names: Vec<_> = T::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), T::ALL.len());
    }

    #[test]
    fn id_keys_sort_like_positive_ids() {
        let ids = [1i64, 2, 255, 256, 65_536, i64::MAX];
        for w in ids.windows(2) {
            assert!(id_key(w[0]) < id_key(w[1]));
            assert!(pair_key(7, w[0]) < pair_key(7, w[1]));
        }
        assert!(pair_key(1, i64::MAX) < pair_key(2, 1));
        assert_eq!(trailing_id(&pair_key(3, 4779)), Some(4779));
        assert_eq!(trailing_id(b"short"), None);
    }

    #[test]
    fn tenant_keys_do_not_collide() {
        assert_ne!(tenant_key("0", "1a"), tenant_key("01", "a"));
        assert!(tenant_key("0", "a").starts_with(&tenant_prefix("0")));
        assert!(!tenant_key("01", "a").starts_with(&tenant_prefix("0")));
        assert_ne!(set_name_key(1, 2, "x"), set_name_key(1, 3, "x"));
    }
}
