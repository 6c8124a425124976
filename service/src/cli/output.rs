//! Standard output for commands whose output is read by other programs (`hoop archive verify |
//! head`). A reader that goes away ends the output, not the command: no panic, and the exit
//! code stays the command's own (0, 1 or 2). Any other failure to write (a full disk behind a
//! redirect) is kept and turns the exit code into 2, so a truncated report never passes for a
//! whole one.

use std::fmt;
use std::io::{ErrorKind, Write as _};
use std::sync::Mutex;

/// Why stdout stopped taking output, once it did.
static STOPPED: Mutex<Option<Stop>> = Mutex::new(None);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Stop {
    /// The reader closed the pipe: what it did not read, it did not want.
    ReaderGone,
    Failed(String),
}

/// Writes to stdout unless it stopped taking output; what `outln!` and `out!` expand to.
pub(crate) fn write(args: fmt::Arguments<'_>) {
    emit(|out| out.write_fmt(args));
}

/// Writes `bytes` as they are (a recording's JSON lines), like [`write`].
pub(crate) fn write_bytes(bytes: &[u8]) {
    emit(|out| out.write_all(bytes));
}

fn emit(write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
    let mut stopped = STOPPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if stopped.is_some() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
        *stopped = Some(match e.kind() {
            ErrorKind::BrokenPipe => Stop::ReaderGone,
            _ => Stop::Failed(e.to_string()),
        });
    }
}

/// Why the output is incomplete, unless only its reader went away.
pub(crate) fn failure() -> Option<String> {
    let stopped = STOPPED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match &*stopped {
        Some(Stop::Failed(reason)) => Some(reason.clone()),
        _ => None,
    }
}

/// `println!` for command output (see the module).
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for command output (see the module).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*))
    };
}
