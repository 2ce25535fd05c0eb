pub mod enhanced_transform;
