//! Watch events: types, states and the notification record.

use crate::jute::{JuteReader, JuteResult, JuteWriter, Record};

/// `Watcher.Event.EventType`. The server only ever sends 1..=4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    None,
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
    DataWatchRemoved,
    ChildWatchRemoved,
    PersistentWatchRemoved,
}

impl EventType {
    pub fn code(self) -> i32 {
        match self {
            EventType::None => -1,
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
            EventType::DataWatchRemoved => 5,
            EventType::ChildWatchRemoved => 6,
            EventType::PersistentWatchRemoved => 7,
        }
    }

    pub fn from_code(c: i32) -> Option<EventType> {
        Some(match c {
            -1 => EventType::None,
            1 => EventType::NodeCreated,
            2 => EventType::NodeDeleted,
            3 => EventType::NodeDataChanged,
            4 => EventType::NodeChildrenChanged,
            5 => EventType::DataWatchRemoved,
            6 => EventType::ChildWatchRemoved,
            7 => EventType::PersistentWatchRemoved,
            _ => return None,
        })
    }
}

/// `KeeperState` values; the server only sends `SyncConnected` (3).
pub mod keeper_state {
    pub const DISCONNECTED: i32 = 0;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const EXPIRED: i32 = -112;
    pub const CLOSED: i32 = 7;
}

/// `WatcherType` of checkWatches/removeWatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
    Persistent,
    PersistentRecursive,
}

impl WatcherType {
    pub fn from_code(c: i32) -> Option<WatcherType> {
        Some(match c {
            1 => WatcherType::Children,
            2 => WatcherType::Data,
            3 => WatcherType::Any,
            4 => WatcherType::Persistent,
            5 => WatcherType::PersistentRecursive,
            _ => return None,
        })
    }

    pub fn code(self) -> i32 {
        match self {
            WatcherType::Children => 1,
            WatcherType::Data => 2,
            WatcherType::Any => 3,
            WatcherType::Persistent => 4,
            WatcherType::PersistentRecursive => 5,
        }
    }
}

/// `addWatch` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

impl AddWatchMode {
    pub fn from_code(c: i32) -> Option<AddWatchMode> {
        match c {
            0 => Some(AddWatchMode::Persistent),
            1 => Some(AddWatchMode::PersistentRecursive),
            _ => None,
        }
    }

    pub fn code(self) -> i32 {
        match self {
            AddWatchMode::Persistent => 0,
            AddWatchMode::PersistentRecursive => 1,
        }
    }
}

/// The notification body (`WatcherEvent`), sent after a `ReplyHeader{xid=-1}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

impl Record for WatcherEvent {
    fn write(&self, w: &mut JuteWriter) {
        w.write_i32(self.event_type);
        w.write_i32(self.state);
        w.write_string(&self.path);
    }
    fn read(r: &mut JuteReader<'_>) -> JuteResult<Self> {
        Ok(WatcherEvent {
            event_type: r.read_i32()?,
            state: r.read_i32()?,
            path: r.read_ustring()?.unwrap_or_default(),
        })
    }
}
