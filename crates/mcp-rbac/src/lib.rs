//! Role-based access control: resource:action permissions, roles with inheritance, a pure policy check and role stores.
#![deny(missing_docs)]
