mod addon;
mod asset_filenames;
mod chunk_filenames;
mod globals;
mod paths;
mod preserve_entry_signatures;

pub use addon::{AddonFunction, AddonOutputOption};
pub use asset_filenames::AssetFilenamesOutputOption;
pub use chunk_filenames::ChunkFilenamesOutputOption;
pub use globals::GlobalsOutputOption;
pub use paths::PathsOutputOption;
pub use preserve_entry_signatures::PreserveEntrySignatures;
