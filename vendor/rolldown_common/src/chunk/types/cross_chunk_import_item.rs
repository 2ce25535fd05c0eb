use crate::SymbolRef;

#[derive(Debug, Clone)]
pub struct CrossChunkImportItem {
  pub import_ref: SymbolRef,
}
