//! Catalog from a YAML (or JSON, a subset of YAML) file: the embedded demo network
//! and `switchyard check-catalog`.

use std::path::Path;

use super::source::CatalogSource;

/// The demo network shipped in `config/`, compiled in so a bare binary can serve it.
pub const DEMO_CATALOG: &str = include_str!("../../config/demo-catalog.yaml");

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid catalog: {source}")]
    Parse {
        path: String,
        source: serde_yaml_ng::Error,
    },
}

pub fn parse(text: &str, name: &str) -> Result<CatalogSource, FileError> {
    serde_yaml_ng::from_str(text).map_err(|source| FileError::Parse {
        path: name.to_owned(),
        source,
    })
}

pub fn load(path: &Path) -> Result<CatalogSource, FileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: name.clone(),
        source,
    })?;
    parse(&text, &name)
}
