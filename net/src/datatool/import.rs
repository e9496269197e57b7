//! `corral data import-zookeeper`: turn a ZooKeeper 3.8 data directory (its newest valid
//! snapshot plus the transaction logs after it) into a Corral snapshot, so a Corral server
//! started on the new directory serves the same tree and sessions.

use std::io::Write;
use std::path::Path;

use corral_core::snapshot::Image;
use corral_core::tree::DataTree;

use super::Dirs;
use crate::storage::zk_import::{self, ZkImportError};
use crate::storage::{log, snapshot as snapfile, DataLocks, StorageError};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    ZooKeeper(#[from] ZkImportError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "{0} already holds Corral data (snapshots or log segments); import into an empty directory"
    )]
    NotEmpty(std::path::PathBuf),
    #[error("the ZooKeeper snapshot {file} is not a tree: {reason}")]
    BadTree { file: String, reason: String },
}

/// Import `zk_data` (and `zk_log`, ZooKeeper's dataLogDir if separate) into `target`.
/// Returns the image written.
pub fn import_zookeeper(
    zk_data: &Path,
    zk_log: Option<&Path>,
    target: &Dirs,
    out: &mut dyn Write,
) -> Result<Image, ImportError> {
    let _locks = DataLocks::acquire(&target.data, &target.log)?;
    let snap_dir = snapfile::snap_dir(&target.data);
    if !snapfile::list(&snap_dir)?.is_empty()
        || !log::segments(&log::log_dir(&target.log))?.is_empty()
    {
        return Err(ImportError::NotEmpty(target.data.clone()));
    }
    let zk = zk_import::read_zookeeper_dirs(zk_data, zk_log.unwrap_or(zk_data))?;
    for w in &zk.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let file = zk
        .snapshot
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    let mut image = if zk.nodes.is_empty() {
        Image::new()
    } else {
        let mut loader = DataTree::loader();
        for n in zk.nodes {
            loader
                .insert(n.path, n.data, &n.acl, n.stat)
                .map_err(|reason| ImportError::BadTree {
                    file: file.clone(),
                    reason,
                })?;
        }
        let tree = loader
            .finish(zk.snapshot_zxid)
            .map_err(|reason| ImportError::BadTree {
                file: file.clone(),
                reason,
            })?;
        Image {
            tree,
            sessions: zk.sessions.into_iter().collect(),
        }
    };
    let snapshot_nodes = image.tree.len();
    // ZooKeeper snapshots are fuzzy: txns logged after the snapshot started may already be
    // in it. Replaying them over it is what ZooKeeper's own recovery does, and `apply` has
    // its exact semantics for txns that no longer fit.
    let replayed = zk.entries.len();
    for e in &zk.entries {
        image.apply(e);
    }
    let (path, size) = snapfile::write(&snap_dir, &image)?;
    snapfile::write_log_start_marker(&snap_dir, image.zxid())?;
    let _ = writeln!(
        out,
        "imported ZooKeeper snapshot {file} ({snapshot_nodes} nodes at zxid {}) + {replayed} log txns\n\
         wrote {} ({size} bytes): zxid {}, {} nodes, {} sessions, digest {:016x}",
        zk.snapshot_zxid,
        path.display(),
        image.zxid(),
        image.tree.len(),
        image.sessions.len(),
        image.tree.digest()
    );
    Ok(image)
}
