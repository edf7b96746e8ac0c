//! `OpenError::check_format`, the format-marker check sled and redb share: each outcome.

use std::path::Path;

use cmdb_store_group::OpenError;

fn check(found: (&str, i64)) -> Result<(), OpenError> {
    OpenError::check_format(Path::new("/s/cmdb"), found, "cmdb-store-x", 2)
}

#[test]
fn a_marker_of_ours_at_a_version_we_read_opens() {
    assert_eq!(check(("cmdb-store-x", 1)), Ok(()));
    assert_eq!(check(("cmdb-store-x", 2)), Ok(()));
}

#[test]
fn another_name_is_foreign_a_newer_version_too_new_a_version_below_one_damaged() {
    let foreign = check(("other-app", 1)).unwrap_err();
    assert!(matches!(foreign, OpenError::Foreign(_)), "{foreign:?}");
    assert_eq!(
        foreign.to_string(),
        "/s/cmdb holds format \"other-app\" version 1; this build reads cmdb-store-x version 2"
    );
    assert_eq!(
        check(("cmdb-store-x", 3)),
        Err(OpenError::TooNew {
            what: "store format",
            found: 3,
            supported: 2
        })
    );
    let damaged = check(("cmdb-store-x", 0)).unwrap_err();
    assert!(matches!(damaged, OpenError::Damaged(_)), "{damaged:?}");
    assert!(damaged.to_string().contains("version 0;"), "{damaged}");
}
