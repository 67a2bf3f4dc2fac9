//! Load tests kept apart from tests that assert a wall-clock bound.
//!
//! Every test of the suite runs in one process, as many at once as the machine has cores, in name
//! order across all modules; before, a file's tests only ever ran beside each other. A test that
//! loads the machine on purpose (hundreds of concurrent requests for seconds) beside one that asserts
//! "within 1 s" or sleeps for a flush would fail the latter for a reason that says nothing about it.
//! A load test holds [`load_test`] for its whole run and runs beside no other load or timing test; a
//! timing test holds [`timing_test`] and runs beside anything but a load test.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static MACHINE: RwLock<()> = RwLock::const_new(());

/// Held by a test that loads the machine on purpose, e.g. `let _load = load_test().await;`.
pub async fn load_test() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// Held by a test that asserts a wall-clock bound, e.g. `let _timing = timing_test().await;`.
pub async fn timing_test() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// Waits 2.5 s for a server's sketch flush and release-set refresh, both every second in the tests
/// that call this, to have run (what the reports then read), never beside a load test.
pub async fn wait_for_flush() {
    let _timing = timing_test().await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
}
