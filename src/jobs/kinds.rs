//! The job kinds, by name (the `kind` column) — defined beside the typed [`JobSpec`]
//! (crate::domain::jobs::JobSpec) they name.

pub use crate::domain::jobs::kinds::*;
