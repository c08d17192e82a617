//! (filled in once the shared check core is merged)
