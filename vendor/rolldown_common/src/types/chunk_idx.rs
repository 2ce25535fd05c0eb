oxc_index::define_index_type! {
  pub struct ChunkIdx = u32;
}
