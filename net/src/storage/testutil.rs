//! Helpers shared by the storage tests: real log entries, images, and a directory's
//! recovered state and digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use corral_core::proto::data::Acl;
use corral_core::snapshot::Image;
use corral_core::txn::{CreateKind, LogEntry, Txn, TxnHeader};
use corral_core::types::{SessionId, Zxid};

use super::log::{self, LogWriter};
use super::{recovery, StorageError};

/// Entry `zxid` of a history named by `tag`: creates `/<tag><counter>`, so that two
/// histories with different tags give different trees at equal zxids.
pub fn entry(tag: &str, zxid: Zxid) -> LogEntry {
    let txn = Txn::Create {
        path: format!("/{tag}{:08x}{:08x}", zxid.epoch().0, zxid.counter()),
        data: Some(format!("{tag} {zxid}").into_bytes()),
        acl: Acl::open_unsafe(),
        kind: CreateKind::Persistent,
        parent_cversion: 0,
    };
    LogEntry {
        hdr: TxnHeader {
            session: SessionId(7),
            cxid: zxid.counter() as i32,
            zxid,
            time: 1000 + zxid.0,
            op: txn.op(),
        },
        txn,
    }
}

/// Zxid `counter` of `epoch`.
pub fn z(epoch: u32, counter: u32) -> Zxid {
    Zxid((i64::from(epoch) << 32) | i64::from(counter))
}

/// The image after applying `zxids` of history `tag` to `base`.
pub fn image(base: Image, tag: &str, zxids: &[Zxid]) -> Image {
    let mut img = base;
    for &zx in zxids {
        img.apply(&entry(tag, zx));
    }
    img
}

/// Append `zxids` of history `tag` to the log under `data_dir`, one commit each, rolling
/// segments after `roll_bytes`.
pub fn append(data_dir: &Path, tag: &str, zxids: &[Zxid], roll_bytes: u64) {
    let dir = log::log_dir(data_dir);
    let rec = log::recover(&dir, &mut |_, _| Ok(())).unwrap();
    let mut w = LogWriter::open(&dir, &rec, roll_bytes, true).unwrap();
    for &zx in zxids {
        w.append(&entry(tag, zx).to_bytes()).unwrap();
        w.commit().unwrap();
    }
}

/// Counters `from..=to` of `epoch`.
pub fn run(epoch: u32, from: u32, to: u32) -> Vec<Zxid> {
    (from..=to).map(|c| z(epoch, c)).collect()
}

/// What recovery of `dir` (as dataDir and dataLogDir) gives, as a comparable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub last_zxid: Zxid,
    pub digest: u64,
    pub nodes: Vec<(String, Option<Vec<u8>>)>,
    pub snapshot_zxid: Zxid,
}

impl State {
    pub fn of(img: &Image) -> State {
        State {
            last_zxid: img.zxid(),
            digest: img.tree.digest(),
            nodes: img
                .tree
                .walk()
                .map(|(p, n)| (p, n.data.map(<[u8]>::to_vec)))
                .collect(),
            snapshot_zxid: Zxid::ZERO,
        }
    }
}

/// Recover `dir` the way the server does (locks released on return).
pub fn recover(dir: &Path) -> Result<(State, recovery::Recovered), StorageError> {
    let image = std::cell::RefCell::new(Image::new());
    let rec = recovery::recover(dir, dir, true, &mut |i| *image.borrow_mut() = i, &mut |e| {
        image.borrow_mut().apply(&e)
    })?;
    let img = image.into_inner();
    let mut st = State::of(&img);
    assert_eq!(st.last_zxid, rec.last_zxid);
    st.snapshot_zxid = rec.snapshot_zxid;
    Ok((st, rec))
}

/// Every file under `dir` (recursively) with its bytes, for "nothing changed" checks and
/// for copying a directory.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Make `to` hold exactly the files of `from` (a fresh copy of a directory state).
pub fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in files(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

/// A snapshot of `img` as the core sends it.
pub fn snapshot_bytes(img: &Image) -> Vec<u8> {
    corral_core::snapshot::to_bytes(img)
}
