pub mod comment_annotation;
pub mod dynamic_import_usage;
pub mod ecma_asset_meta;
pub mod ecma_view;
pub mod json_to_program;
pub mod module_idx;
