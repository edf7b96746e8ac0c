//! Fuzz target: arbitrary bytes as an ESB `create_set` body and as a batch body, each on fresh
//! memory engines holding a catalog with every attribute type. The checks live in
//! `cmdb_tests::fuzz_check` (shared with the workspace tests, which replay the seed corpus in
//! CI): any panic, an undocumented code (a masked 1199999 included), a malformed envelope, a
//! refused request that wrote something or a failure carrying data is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    cmdb_tests::fuzz_check::check_input(body);
});
