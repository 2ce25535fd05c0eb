oxc_index::define_index_type! {
  pub struct PluginIdx = u32;
}
