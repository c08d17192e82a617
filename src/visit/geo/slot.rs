//! One configured database file and the reader currently serving it.
//!
//! The reader sits behind an `ArcSwapOption` so lookups never wait on a reload:
//! a lookup holds the old reader until it is done, the next one sees the new.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use arc_swap::Guard;
use maxminddb::Reader;

use super::GeoError;

pub(super) type Db = Reader<Vec<u8>>;

/// Which MaxMind product a slot holds; a City file configured as the ISP
/// database would otherwise answer every lookup with nothing, silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    City,
    AnonymousIp,
    Isp,
    Asn,
    ConnectionType,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::City => "City",
            Kind::AnonymousIp => "Anonymous-IP",
            Kind::Isp => "ISP",
            Kind::Asn => "ASN",
            Kind::ConnectionType => "Connection-Type",
        }
    }

    fn accepts(self, database_type: &str) -> bool {
        // Enterprise is a superset of City and carries the same fields.
        database_type.contains(self.expected())
            || (self == Kind::City && database_type.contains("Enterprise"))
    }
}

/// What identifies one version of the file on disk. The inode catches a
/// replacement by rename that happens to keep size and mtime (`tar` and
/// `cp -p` preserve mtimes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

pub(super) struct Slot {
    kind: Kind,
    path: PathBuf,
    reader: ArcSwapOption<Db>,
    /// The file version last tried, loaded or not: a broken file is reported
    /// once, not at every watcher tick, and retried once it changes again.
    tried: Mutex<Option<Stamp>>,
}

impl Slot {
    /// A file that does not exist yet leaves the slot empty (lookups answer
    /// "unknown") and is picked up by a later reload; a file that exists but
    /// cannot be used is an error, so a bad deploy fails at start.
    pub(super) fn open(kind: Kind, path: PathBuf) -> Result<Self, GeoError> {
        let slot = Slot {
            kind,
            path,
            reader: ArcSwapOption::empty(),
            tried: Mutex::new(None),
        };
        match Stamp::of(&slot.path) {
            Ok(stamp) => {
                let db = load(kind, &slot.path)?;
                slot.reader.store(Some(Arc::new(db)));
                *slot.tried.lock().unwrap_or_else(PoisonError::into_inner) = Some(stamp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %slot.path.display(), kind = kind.expected(),
                    "GeoIP database not found; its fields stay unknown until it appears");
            }
            Err(source) => {
                return Err(GeoError::Read {
                    path: slot.path,
                    source,
                });
            }
        }
        Ok(slot)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn reader(&self) -> Guard<Option<Arc<Db>>> {
        self.reader.load()
    }

    /// `None` when the file is unchanged (or gone: a file removed mid-deploy
    /// keeps serving the last good version).
    pub(super) fn reload_if_changed(&self) -> Option<Result<(), GeoError>> {
        let stamp = Stamp::of(&self.path).ok()?;
        let mut tried = self.tried.lock().unwrap_or_else(PoisonError::into_inner);
        if *tried == Some(stamp) {
            return None;
        }
        let result = load(self.kind, &self.path);
        // A file still being written changes under us: leave it untried so the
        // next tick sees it complete.
        if Stamp::of(&self.path).ok() == Some(stamp) {
            *tried = Some(stamp);
        }
        Some(result.map(|db| self.reader.store(Some(Arc::new(db)))))
    }
}

/// Reads and fully verifies the file: a corrupt record would otherwise only
/// show up as a decode error on the hits that land on it.
fn load(kind: Kind, path: &Path) -> Result<Db, GeoError> {
    let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
        path: path.to_owned(),
        source,
    })?;
    let corrupt = |source| GeoError::Corrupt {
        path: path.to_owned(),
        source,
    };
    let db = Reader::from_source(bytes).map_err(corrupt)?;
    db.verify().map_err(corrupt)?;
    let found = &db.metadata().database_type;
    if !kind.accepts(found) {
        return Err(GeoError::WrongType {
            path: path.to_owned(),
            expected: kind.expected(),
            found: found.clone(),
        });
    }
    Ok(db)
}
