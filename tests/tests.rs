//! The one integration-test binary: each module covers one area end to end.

mod grades;
