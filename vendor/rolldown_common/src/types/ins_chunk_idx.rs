oxc_index::define_index_type! {
  pub struct InsChunkIdx = u32;
}
