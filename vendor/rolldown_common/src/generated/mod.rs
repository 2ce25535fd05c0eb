pub mod checks_options;
pub mod runtime_helper;
