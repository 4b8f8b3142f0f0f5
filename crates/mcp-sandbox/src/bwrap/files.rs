//! Getting a run's files into its sandbox: a handle on the sandbox's own tmpfs work dir,
//! opened from the host through `/proc/<pid>/root`, and the files created through it as the
//! run's uid.

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstatat, mkdirat};

use super::{WORK_DIR, io_err};
use crate::Error;
use crate::exec::validate_file_name;

/// Opens the work dir of the sandbox whose bwrap is `outer`, through `/proc/<pid>/root` of its
/// PID-namespace init, and checks that it is a tmpfs in another mount namespace than the
/// server's (so writes land in the sandbox and nowhere else).
pub(super) fn sandbox_work_dir(outer: u32) -> Result<OwnedFd, Error> {
    let fail = |why: &str| {
        Error::io(
            "opening the sandbox's work dir",
            std::io::Error::other(why.to_string()),
        )
    };
    let children = fs::read_to_string(format!("/proc/{outer}/task/{outer}/children"))
        .map_err(io_err("finding the sandbox's first process"))?;
    let inner: u32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| fail("bwrap has no child"))?;
    let work = nix::fcntl::open(
        format!("/proc/{inner}/root{WORK_DIR}").as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("opening the sandbox's work dir", e.into()))?;
    let ns = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/mnt"));
    let (inside, host) = (
        ns(&inner.to_string()).map_err(io_err("reading the sandbox's mount namespace"))?,
        ns("self").map_err(io_err("reading the server's mount namespace"))?,
    );
    if inside == host {
        return Err(fail("the sandbox shares the server's mount namespace"));
    }
    let is_tmpfs = nix::sys::statfs::fstatfs(&work)
        .is_ok_and(|f| f.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
    if !is_tmpfs {
        return Err(fail("the sandbox's work dir is not its tmpfs"));
    }
    Ok(work)
}

/// Switches the calling thread's filesystem uid and gid, and switches them back when dropped.
struct FsIds {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

impl FsIds {
    fn switch(uid: u32) -> Self {
        FsIds {
            gid: nix::unistd::setfsgid(nix::unistd::Gid::from_raw(uid)),
            uid: nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid)),
        }
    }
}

impl Drop for FsIds {
    fn drop(&mut self) {
        nix::unistd::setfsuid(self.uid);
        nix::unistd::setfsgid(self.gid);
    }
}

/// Writes `files` into `work`, the sandbox's work dir, as the run's `uid` (the only host uid its
/// user namespace maps; the tmpfs refuses files of unmapped owners). Nothing of the run exists
/// yet, so nothing inside can redirect the writes (and symlinks are not followed anyway). Files
/// get mode 0444; directories 0755 (umask), owned by the run's user, so it can write in them.
pub(super) fn place_files(
    work: &OwnedFd,
    files: &[(String, Vec<u8>)],
    work_dir_bytes: u64,
    uid: Option<u32>,
) -> Result<(), Error> {
    // No `.await` until the guard is dropped: the ids belong to this thread.
    let _ids = uid.map(FsIds::switch);
    let fail = |e: nix::errno::Errno, context: String| {
        if e == nix::errno::Errno::ENOSPC {
            Error::InputTooLarge {
                size: files.iter().map(|(_, c)| c.len() as u64).sum(),
                max: work_dir_bytes,
            }
        } else {
            Error::io(context, e.into())
        }
    };
    for (name, content) in files {
        validate_file_name(name)?;
        let mut parent = String::new();
        for part in name
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            let dir = parent.as_str();
            match mkdirat(work, dir, Mode::from_bits_truncate(0o777)) {
                Ok(()) => {}
                Err(nix::errno::Errno::EEXIST)
                    if fstatat(work, dir, AtFlags::AT_SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFDIR) => {}
                Err(e) => {
                    return Err(fail(
                        e,
                        format!(
                            "creating directory for file `{name}` (a file of that name exists?)"
                        ),
                    ));
                }
            }
        }
        let fd = openat(
            work,
            name.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o444),
        )
        .map_err(|e| fail(e, format!("placing file `{name}` (named twice?)")))?;
        fs::File::from(fd).write_all(content).map_err(|e| {
            let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0));
            fail(errno, format!("writing file `{name}`"))
        })?;
    }
    Ok(())
}
