oxc_index::define_index_type! {
  pub struct AstScopeIdx = u32;
}
