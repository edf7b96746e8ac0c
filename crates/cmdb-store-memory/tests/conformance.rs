//! The shared conformance suite, run against the in-memory store.

cmdb_store_conformance::store_conformance_tests!(cmdb_store_conformance::MemoryFactory);
