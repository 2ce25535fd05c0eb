pub enum Interop {
  Babel,
  Node,
}
