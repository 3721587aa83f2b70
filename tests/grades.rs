//! Grade engine CLI tests (issue 3).
