oxc_index::define_index_type! {
    pub struct ExternalModuleIdx = u32;
}
