//! Conformance runners for Skiff. The web-platform-tests runner runs WPT `.any.js` files inside
//! a worker's own global scope, served by a real `skiff node` and by workerd side by side, and
//! judges Skiff's results against expected-failure lists per WPT directory.
//!
//! The pieces, each testable without a runtime: [`meta`] reads a test file's `// META:` header,
//! [`harness`] builds the worker module that runs it, [`results`] reads what the worker
//! answers, [`expectations`] compares a run with the expected failures, [`reasons`] says in one
//! line why each expected failure fails, and [`report`] writes the table of pass rates.

pub mod expectations;
pub mod harness;
pub mod meta;
pub mod reasons;
pub mod report;
pub mod results;
pub mod serve;
