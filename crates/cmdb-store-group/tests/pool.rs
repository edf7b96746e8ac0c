//! The blocking pool: work runs off the caller's thread, and a panic fails only its own call.

use cmdb_core::StoreError;
use cmdb_store_group::BlockingPool;

#[test]
fn work_runs_off_the_caller_and_a_panic_fails_only_its_call() {
    let pool = BlockingPool::new("test-pool", 2);
    let caller = std::thread::current().id();
    let ran_on = futures::executor::block_on(pool.run(|| std::thread::current().id())).unwrap();
    assert_ne!(ran_on, caller);
    let panicked = futures::executor::block_on(pool.run(|| -> u8 { panic!("boom") }));
    assert!(matches!(panicked, Err(StoreError::Backend(_))));
    // The threads survive a panic.
    assert_eq!(futures::executor::block_on(pool.run(|| 7)).unwrap(), 7);
}
