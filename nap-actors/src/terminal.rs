//! The local terminal, for commands that hand it to a container (`nap exec`, `nap run`): raw
//! mode for as long as a guard lives, the window size (followed on `SIGWINCH`), and the
//! container's output written to stdout and stderr.

use std::io::IsTerminal;

/// The terminal's mode before raw mode, put back when dropped.
pub struct RawMode {
    /// The settings to restore.
    saved: libc::termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode (no echo, no line editing, keys such as Ctrl-C
    /// passed through as bytes). `None` when stdin is not a terminal.
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor (0).
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is open (it is a terminal, checked above) and `saved` is writable.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only writes the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: fd 0 is a terminal and `raw` a valid termios.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores settings read from the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub columns: u16,
}

/// The size of the terminal on stdout (else stdin), if either is one.
pub fn size() -> Option<Size> {
    [libc::STDOUT_FILENO, libc::STDIN_FILENO]
        .into_iter()
        .find_map(|fd| {
            // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
            let mut size: libc::winsize = unsafe { std::mem::zeroed() };
            // SAFETY: a valid pointer to a winsize for TIOCGWINSZ.
            let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
            (ok && size.ws_row > 0 && size.ws_col > 0).then_some(Size {
                rows: size.ws_row,
                columns: size.ws_col,
            })
        })
}

/// Calls `resize` with the terminal's size now and after every `SIGWINCH`, until aborted.
pub async fn follow_window_size<F, Fut>(resize: F)
where
    F: Fn(Size) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(size) = size() {
        resize(size).await;
    }
    let Ok(mut changes) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    while changes.recv().await.is_some() {
        if let Some(size) = size() {
            resize(size).await;
        }
    }
}

/// Writes one chunk of a container's attached output to `stderr` (its stderr) or `stdout`
/// (everything else), flushed at once.
pub async fn write_output(
    chunk: bollard::container::LogOutput,
    stdout: &mut tokio::io::Stdout,
    stderr: &mut tokio::io::Stderr,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match chunk {
        bollard::container::LogOutput::StdErr { message } => {
            stderr.write_all(&message).await?;
            stderr.flush().await
        }
        other => {
            stdout.write_all(&other.into_bytes()).await?;
            stdout.flush().await
        }
    }
}
