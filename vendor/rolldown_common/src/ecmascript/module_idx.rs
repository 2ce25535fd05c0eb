oxc_index::define_index_type! {
    #[derive(Default)]
    pub struct ModuleIdx = u32;
}
