//! The shared journal: every line of every session of the process, appended to one file, so one
//! `fdatasync` per writer round makes the whole round durable whichever sessions it touched.
//!
//! A segment `<spool>/journal/<n>.wal` (`n` 20 decimal digits) starts with the 8 bytes
//! `HOOPWAL1`, then holds records (integers little-endian):
//!
//! ```text
//! body length  u64      8 + 1 + id length + line length
//! checksum     [u8;32]  SHA-256 of the body
//! body:  seq u64 | id length u8 | session id | the line, with its `\n`
//! ```
//!
//! A [`Record`] is built in one buffer, header first, so the writer sends the whole buffer to the
//! journal and its tail (the line) to the session file: the same bytes, never copied.
//!
//! A segment is preallocated to its full size when it is created (`fallocate`), so appending a
//! record changes neither the file's size nor its block map, and the `fdatasync` of a round
//! writes data only (no file-system journal commit for metadata). The zeros after the last
//! record are that preallocation, not a torn tail.
//!
//! Architecture Invariant: a record counts only once the segment was synced past its end; a
//! segment is deleted only when every session file with lines in it was synced past them
//! (tracked per segment, [`Journal::file_synced`]). After a failed journal write or sync the
//! segment is cut back to its synced length and sealed; the next round opens a new one.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest::{Context, SHA256};

use super::writer::FileId;

/// First bytes of every segment: the format and its version.
pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"HOOPWAL1";

/// A segment is sealed once it holds this much, then retired when its sessions are synced.
pub(super) const SEGMENT_BYTES: u64 = 64 << 20;

const LEN: usize = 8;
const SUM: usize = 32;
const HEAD: usize = LEN + SUM;
/// `seq` and the id length byte.
const BODY_FIXED: usize = 8 + 1;

/// The journal directory inside a spool directory.
pub(super) fn dir_of(spool: &Path) -> PathBuf {
    spool.join("journal")
}

/// `<journal>/<n>.wal`, zero-padded so names sort like numbers.
pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// The number in a segment's file name, if it is one.
pub(super) fn segment_seq(path: &Path) -> Option<u64> {
    let stem = path.file_stem()?.to_str()?;
    let is_wal = path.extension().is_some_and(|e| e == "wal");
    (is_wal && stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// One line with its journal header, in one buffer.
pub(super) struct Record {
    buf: Vec<u8>,
    line_start: usize,
}

impl Record {
    /// Starts the record of line `seq` of `session_id` (at most 128 bytes, checked by the
    /// spool); append the line to [`Record::line_buffer`], then [`Record::seal`].
    pub(super) fn new(session_id: &str, seq: u64, line_capacity: usize) -> Self {
        let line_start = HEAD + BODY_FIXED + session_id.len();
        let mut buf = Vec::with_capacity(line_start + line_capacity);
        buf.resize(HEAD, 0);
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.push(u8::try_from(session_id.len()).unwrap_or(u8::MAX));
        buf.extend_from_slice(session_id.as_bytes());
        Record { buf, line_start }
    }

    /// The buffer to append the line to (the header is already in front of it).
    pub(super) fn line_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Fills in the length and checksum once the line is complete.
    pub(super) fn seal(&mut self) {
        let body = &self.buf[HEAD..];
        let len = body.len() as u64;
        let sum = sha256(body);
        self.buf[..LEN].copy_from_slice(&len.to_le_bytes());
        self.buf[LEN..HEAD].copy_from_slice(&sum);
    }

    /// The line, `\n` included: what the session file receives.
    pub(super) fn line(&self) -> &[u8] {
        &self.buf[self.line_start..]
    }

    /// The whole record: what the journal receives.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// A record read back from a segment.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry<'a> {
    pub(super) seq: u64,
    pub(super) session_id: &'a str,
    /// The line with its `\n`.
    pub(super) line: &'a [u8],
}

/// A segment's valid records, and how many bytes after them did not form one (a torn tail;
/// the zeros of the preallocation after it do not count).
pub(super) struct Parsed<'a> {
    pub(super) entries: Vec<Entry<'a>>,
    pub(super) torn: usize,
}

/// Reads records up to the first one that is incomplete or fails its checksum. `None` when
/// the segment does not start with [`SEGMENT_MAGIC`] (including a segment torn inside it).
pub(super) fn parse_segment(bytes: &[u8]) -> Option<Parsed<'_>> {
    let mut rest = bytes.strip_prefix(SEGMENT_MAGIC.as_slice())?;
    let mut entries = Vec::new();
    while let Some((entry, used)) = parse_record(rest) {
        entries.push(entry);
        rest = &rest[used..];
    }
    let torn = rest
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    Some(Parsed { entries, torn })
}

fn parse_record(bytes: &[u8]) -> Option<(Entry<'_>, usize)> {
    let len = usize::try_from(u64::from_le_bytes(bytes.get(..LEN)?.try_into().ok()?)).ok()?;
    let sum = bytes.get(LEN..HEAD)?;
    let body = bytes.get(HEAD..HEAD.checked_add(len)?)?;
    if len < BODY_FIXED || sha256(body) != sum {
        return None;
    }
    let seq = u64::from_le_bytes(body[..8].try_into().ok()?);
    let id_end = BODY_FIXED + usize::from(body[8]);
    let session_id = std::str::from_utf8(body.get(BODY_FIXED..id_end)?).ok()?;
    let line = &body[id_end..];
    let one_line = line.last() == Some(&b'\n') && !line[..line.len() - 1].contains(&b'\n');
    (one_line && !session_id.is_empty()).then_some((
        Entry {
            seq,
            session_id,
            line,
        },
        HEAD + len,
    ))
}

/// A line written to its session file this round, waiting for the journal.
pub(super) struct Journaled {
    pub(super) id: FileId,
    /// End of the line in the session file.
    pub(super) end: u64,
    pub(super) record: Record,
}

/// The writer's side of the journal: the segment being appended to and the sealed ones that
/// wait for their sessions' files to be synced.
pub(super) struct Journal {
    dir: PathBuf,
    limit: u64,
    next_seq: u64,
    active: Option<Segment>,
    sealed: Vec<Segment>,
    syncs: Arc<AtomicU64>,
}

struct Segment {
    path: PathBuf,
    file: File,
    written: u64,
    synced: u64,
    /// Per session file with lines in this segment: the end of its last one. The segment may
    /// go once each file is synced past its entry (the entry is then removed).
    pending: HashMap<FileId, u64>,
}

impl Journal {
    pub(super) fn new(dir: PathBuf, limit: u64, next_seq: u64, syncs: Arc<AtomicU64>) -> Self {
        Journal {
            dir,
            limit,
            next_seq,
            active: None,
            sealed: Vec::new(),
            syncs,
        }
    }

    /// The segment this round writes to (for error messages).
    pub(super) fn path(&self) -> PathBuf {
        self.active.as_ref().map_or_else(
            || segment_path(&self.dir, self.next_seq),
            |s| s.path.clone(),
        )
    }

    /// Phase 1: appends the round's records (no sync). On error the segment is cut back to its
    /// synced length and sealed.
    pub(super) fn write(&mut self, records: &[Journaled]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let result = self.open_active().and_then(|segment| {
            write_all_vectored(&mut segment.file, records)?;
            segment.written += records
                .iter()
                .map(|r| r.record.bytes().len() as u64)
                .sum::<u64>();
            Ok(())
        });
        if result.is_err() {
            self.fail();
        }
        result
    }

    /// The file to `fdatasync` for this round, if it wrote to one.
    pub(super) fn to_sync(&self) -> Option<&File> {
        self.active
            .as_ref()
            .filter(|s| s.written > s.synced)
            .map(|s| &s.file)
    }

    /// Phase 2, after the sync: on success every record written since the last sync counts
    /// (`lines`: the session file and line end of each) and their sessions are noted in the
    /// segment; a full segment is sealed. On failure the segment is given up.
    pub(super) fn synced(&mut self, result: &io::Result<()>, lines: &[(FileId, u64)]) {
        if lines.is_empty() {
            return;
        }
        if result.is_err() {
            self.fail();
            return;
        }
        let Some(segment) = self.active.as_mut() else {
            return;
        };
        self.syncs.fetch_add(1, Ordering::Relaxed);
        segment.synced = segment.written;
        for &(id, line_end) in lines {
            let end = segment.pending.entry(id).or_default();
            *end = (*end).max(line_end);
        }
        if segment.written >= self.limit {
            self.seal();
        }
    }

    /// `id`'s file is on stable storage up to `synced`: its entries up to there are settled.
    pub(super) fn file_synced(&mut self, id: FileId, synced: u64) {
        for segment in self.sealed.iter_mut().chain(self.active.as_mut()) {
            if segment.pending.get(&id).is_some_and(|&end| end <= synced) {
                segment.pending.remove(&id);
            }
        }
    }

    /// The session files sealed segments still wait for.
    pub(super) fn awaited(&self) -> Vec<FileId> {
        let mut ids: Vec<FileId> = self
            .sealed
            .iter()
            .flat_map(|s| s.pending.keys().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Deletes sealed segments nothing waits for. A segment that waits for a file no longer
    /// open (its last sync failed) is kept on disk for recovery at the next start.
    pub(super) fn retire(&mut self, is_open: impl Fn(FileId) -> bool) {
        self.sealed.retain(|segment| {
            if segment.pending.is_empty() {
                if let Err(e) = fs::remove_file(&segment.path) {
                    tracing::warn!(path = %segment.path.display(), error = %e, "cannot delete a retired journal segment");
                }
                return false;
            }
            if segment.pending.keys().all(|&id| is_open(id)) {
                return true;
            }
            tracing::error!(
                target: "hoop::alert",
                path = %segment.path.display(),
                "a session file could not be synced past its lines in this journal segment; \
                 the segment is kept and replayed at the next start"
            );
            false
        });
    }

    /// Test hook: the active segment's writes go to `path` (`/dev/full`) from now on.
    #[cfg(test)]
    pub(super) fn redirect_for_test(&mut self, path: &Path) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        self.open_active()?.file = file;
        Ok(())
    }

    fn open_active(&mut self) -> io::Result<&mut Segment> {
        let segment = match self.active.take() {
            Some(segment) => segment,
            None => self.new_segment()?,
        };
        Ok(self.active.insert(segment))
    }

    /// Numbers are never reused: a segment that failed half-created keeps its number.
    fn new_segment(&mut self) -> io::Result<Segment> {
        let path = segment_path(&self.dir, self.next_seq);
        self.next_seq += 1;
        let file = create_segment(&self.dir, &path, self.limit)?;
        let len = SEGMENT_MAGIC.len() as u64;
        Ok(Segment {
            path,
            file,
            written: len,
            synced: len,
            pending: HashMap::new(),
        })
    }

    /// Gives up the active segment after a failure: cut back to the synced records, sealed, so
    /// no later record follows unsynced bytes.
    fn fail(&mut self) {
        if let Some(segment) = &self.active
            && let Err(e) = segment.file.set_len(segment.synced)
        {
            tracing::error!(
                target: "hoop::alert",
                path = %segment.path.display(),
                error = %e,
                "cannot cut a failed journal segment back; recovery ignores its torn tail"
            );
        }
        self.seal();
    }

    fn seal(&mut self) {
        if let Some(segment) = self.active.take() {
            self.sealed.push(segment);
        }
    }
}

/// A new segment: `O_EXCL`, mode 0600, `size` bytes preallocated, magic written and synced,
/// directory entry synced. A segment that fails half-way is removed again.
fn create_segment(dir: &Path, path: &Path, size: u64) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    preallocate(&file, path, size);
    let prepared = file
        .write_all(SEGMENT_MAGIC)
        .and_then(|()| file.sync_data())
        .and_then(|()| File::open(dir)?.sync_all());
    match prepared {
        Ok(()) => Ok(file),
        Err(e) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}

/// Allocates `size` bytes of zeros (the size is the file's from now on). A file system without
/// `fallocate` still works: its syncs then commit the growing size as well, which is slower.
fn preallocate(file: &File, path: &Path, size: u64) {
    use rustix::fs::{FallocateFlags, fallocate};
    if let Err(e) = fallocate(file, FallocateFlags::empty(), 0, size) {
        tracing::debug!(path = %path.display(), error = %e, "journal segment not preallocated");
    }
}

/// One `writev` per up to `IOV_MAX` records: the records go to the journal from the buffers
/// the recorders built.
fn write_all_vectored(file: &mut File, records: &[Journaled]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = records
        .iter()
        .map(|r| IoSlice::new(r.record.bytes()))
        .collect();
    let mut bufs = slices.as_mut_slice();
    while !bufs.is_empty() {
        match file.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
