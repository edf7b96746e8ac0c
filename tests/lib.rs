//! The library of the end-to-end test package: the fuzz target's checks ([`fuzz_check`]),
//! shared with `tests/fuzz`. The tests themselves live in `e2e/`.

pub mod fuzz_check;
