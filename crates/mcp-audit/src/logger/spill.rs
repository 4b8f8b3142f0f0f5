//! The append-only JSON-lines spill file that takes events the in-memory queue has no room for.
//!
//! One event per line, in the order they were logged. Lines are written at the end of the
//! file; the worker replays them from `read_offset` and truncates the file once it has stored
//! everything. The file is fsynced only for events a `log_durable` caller waits for; other lines survive a
//! process crash, not a power cut.
//! Lines left over from an earlier run are replayed first; events that were already stored
//! before the crash come back from the sink as `Conflict` (same `event_id`) and are skipped.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::event::AuditEvent;

#[derive(Debug)]
pub(crate) struct SpillFile {
    path: PathBuf,
    file: File,
    /// Bytes in the file (every complete line written so far).
    written: u64,
    /// Bytes already stored in the sink.
    read_offset: u64,
    /// Lines between `read_offset` and `written`.
    pending: usize,
}

/// A run of spilled lines read back for delivery.
#[derive(Debug)]
pub(crate) struct SpilledBatch {
    pub(crate) events: Vec<AuditEvent>,
    /// Lines consumed, including unreadable ones.
    pub(crate) lines: usize,
    pub(crate) bytes: u64,
    /// Lines that did not parse as an event (reported and skipped).
    pub(crate) unreadable: Vec<String>,
}

impl SpillFile {
    /// Opens or creates the file; lines already in it become pending.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)?;
        if contents.last().is_some_and(|&b| b != b'\n') {
            // A line cut short by a crash: end it so the next event starts a fresh line.
            file.write_all(b"\n")?;
            contents.push(b'\n');
        }
        let pending = contents.iter().filter(|&&b| b == b'\n').count();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            written: contents.len() as u64,
            read_offset: 0,
            pending,
        })
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The unread byte range, for [`read_batch`].
    pub(crate) fn unread(&self) -> (u64, u64) {
        (self.read_offset, self.written)
    }

    /// Appends one event as one line; with `sync`, also fsyncs the file's data.
    pub(crate) fn push(&mut self, event: &AuditEvent, sync: bool) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        if sync {
            self.file.sync_data()?;
        }
        self.written += line.len() as u64;
        self.pending += 1;
        Ok(())
    }

    /// Marks a batch returned by [`read_batch`] as stored; truncates the file once nothing is
    /// left in it.
    pub(crate) fn consume(&mut self, lines: usize, bytes: u64) -> io::Result<()> {
        self.read_offset += bytes;
        self.pending = self.pending.saturating_sub(lines);
        if self.read_offset >= self.written {
            self.file.set_len(0)?;
            self.written = 0;
            self.read_offset = 0;
            self.pending = 0;
        }
        Ok(())
    }
}

/// Reads up to `max_lines` complete lines from `path` in `[from, to)`. Blocking.
pub(crate) fn read_batch(
    path: &Path,
    from: u64,
    to: u64,
    max_lines: usize,
) -> io::Result<SpilledBatch> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::new(file.take(to.saturating_sub(from)));
    let mut batch = SpilledBatch {
        events: Vec::new(),
        lines: 0,
        bytes: 0,
        unreadable: Vec::new(),
    };
    let mut line = String::new();
    while batch.lines < max_lines {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        batch.lines += 1;
        batch.bytes += n as u64;
        let trimmed = line.trim_end_matches('\n');
        if trimmed.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<AuditEvent>(trimmed) {
            Ok(event) => batch.events.push(event),
            Err(e) => batch.unreadable.push(format!("{e}: {trimmed}")),
        }
    }
    Ok(batch)
}
