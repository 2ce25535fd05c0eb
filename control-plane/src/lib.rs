//! skiff-control-plane: placeholder, being built.
