//! Reads stdout and stderr at the same time, keeping at most a fixed number of bytes.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Collected output of a run.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    pub(crate) truncated: bool,
}

/// Reads both streams until both end or together they pass `cap` bytes; in the latter case the
/// output is cut at `cap`, `truncated` is set and the function returns at once (the caller kills
/// the run). Cancel-safe with respect to `into`: what was read stays there.
pub(crate) async fn read_capped<O, E>(mut out: O, mut err: E, cap: u64, into: &mut Captured)
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let mut out_buf = vec![0u8; 64 * 1024];
    let mut err_buf = vec![0u8; 64 * 1024];
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let (n, is_out) = tokio::select! {
            r = out.read(&mut out_buf), if out_open => (r.unwrap_or(0), true),
            r = err.read(&mut err_buf), if err_open => (r.unwrap_or(0), false),
        };
        if n == 0 {
            if is_out {
                out_open = false;
            } else {
                err_open = false;
            }
            continue;
        }
        let used = into.stdout.len() + into.stderr.len();
        let room = cap.saturating_sub(used);
        let (src, dst) = if is_out {
            (&out_buf[..n], &mut into.stdout)
        } else {
            (&err_buf[..n], &mut into.stderr)
        };
        if n > room {
            dst.extend_from_slice(&src[..room]);
            into.truncated = true;
            return;
        }
        dst.extend_from_slice(src);
    }
}

/// Turns bytes into a `String`, replacing invalid UTF-8 (e.g. a character cut by truncation).
pub(crate) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_over_the_cap_is_cut_and_marked() {
        let out: &[u8] = &[b'a'; 100];
        let err: &[u8] = &[b'b'; 100];
        let mut c = Captured::default();
        read_capped(out, err, 150, &mut c).await;
        assert!(c.truncated);
        assert_eq!(c.stdout.len() + c.stderr.len(), 150);
    }

    #[tokio::test]
    async fn output_under_the_cap_is_kept_whole() {
        let mut c = Captured::default();
        read_capped(&b"out"[..], &b"err"[..], 6, &mut c).await;
        assert!(!c.truncated);
        assert_eq!(
            (c.stdout.as_slice(), c.stderr.as_slice()),
            (&b"out"[..], &b"err"[..])
        );
    }
}
