//! The seccomp filter, compiled with `seccompiler` (pure Rust, Apache-2.0) into the raw
//! `struct sock_filter[]` that `bwrap --seccomp FD` loads just before it execs the program.

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use crate::Error;

/// Syscalls refused with `EPERM` whatever their arguments.
fn denied_syscalls() -> Vec<(&'static str, i64)> {
    let mut v = vec![
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("kcmp", libc::SYS_kcmp),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("open_tree", libc::SYS_open_tree),
        ("move_mount", libc::SYS_move_mount),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("reboot", libc::SYS_reboot),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("acct", libc::SYS_acct),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("syslog", libc::SYS_syslog),
        ("quotactl", libc::SYS_quotactl),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("fanotify_init", libc::SYS_fanotify_init),
        ("sethostname", libc::SYS_sethostname),
        ("setdomainname", libc::SYS_setdomainname),
        ("vhangup", libc::SYS_vhangup),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        ("iopl", libc::SYS_iopl),
        ("ioperm", libc::SYS_ioperm),
        ("uselib", libc::SYS_uselib),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ]);
    v
}

fn cond(
    arg: u8,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

/// The filter; `allow_inet` also lets IPv4 and IPv6 sockets be created (long-running processes
/// granted the network).
fn build_filter(allow_inet: bool) -> Result<SeccompFilter, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied_syscalls()
        .into_iter()
        .map(|(_, nr)| (nr, vec![]))
        .collect();

    // Only AF_UNIX sockets: no IP, netlink, packet or vsock socket can even be created, on top of
    // the empty network namespace.
    let mut allowed_families = vec![cond(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?];
    if allow_inet {
        allowed_families.push(cond(0, SeccompCmpOp::Ne, libc::AF_INET as u64)?);
        allowed_families.push(cond(0, SeccompCmpOp::Ne, libc::AF_INET6 as u64)?);
    }
    rules.insert(libc::SYS_socket, vec![SeccompRule::new(allowed_families)?]);

    // clone(2) creating a namespace (flags are argument 0 on x86_64 and aarch64).
    let ns_flags = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ];
    let mut clone_rules = Vec::new();
    for flag in ns_flags {
        let flag = flag as u32 as u64;
        clone_rules.push(SeccompRule::new(vec![cond(
            0,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])?);
    }
    rules.insert(libc::SYS_clone, clone_rules);

    // Terminal injection (TIOCSTI) and console tricks (TIOCLINUX); --new-session already
    // detaches the terminal, this is a second lock.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            #[allow(clippy::unnecessary_cast)] // the ioctl request type differs between libcs
            SeccompRule::new(vec![cond(1, SeccompCmpOp::Eq, libc::TIOCSTI as u64)?])?,
            SeccompRule::new(vec![cond(1, SeccompCmpOp::Eq, 0x541C)?])?,
        ],
    );

    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
}

// Classic BPF opcodes (linux/filter.h, linux/seccomp.h).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Offset of `nr` in `struct seccomp_data`.
const SECCOMP_DATA_NR: u32 = 0;
/// x32 syscalls on x86_64 carry this bit; a filter keyed on x86_64 numbers must refuse them.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&code.to_ne_bytes());
    b[2] = jt;
    b[3] = jf;
    b[4..8].copy_from_slice(&k.to_ne_bytes());
    b
}

/// The filter as bytes for `bwrap --seccomp`.
///
/// A short hand-written prefix runs first: it refuses x32 syscall numbers (which would bypass
/// rules keyed on x86_64 numbers) and makes `clone3` fail with `ENOSYS`, because its flags live in
/// memory a filter cannot inspect; libc then falls back to `clone`, whose flags are checked.
/// The rest is `seccompiler`'s program, which also kills any process using a foreign
/// architecture's syscall ABI (e.g. `int 0x80` on x86_64).
pub(crate) fn filter_bytes() -> Result<Vec<u8>, Error> {
    filter_bytes_for(false)
}

/// [`filter_bytes`], with IPv4 and IPv6 sockets allowed when `allow_inet` is set.
pub(crate) fn filter_bytes_for(allow_inet: bool) -> Result<Vec<u8>, Error> {
    let filter = build_filter(allow_inet)
        .map_err(|e| Error::InvalidConfig(format!("seccomp filter: {e}")))?;
    let program: seccompiler::BpfProgram =
        filter.try_into().map_err(|e: seccompiler::BackendError| {
            Error::InvalidConfig(format!("seccomp filter: {e}"))
        })?;
    let mut out = Vec::with_capacity((program.len() + 5) * 8);
    out.extend(insn(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR));
    out.extend(insn(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT));
    out.extend(insn(
        BPF_RET_K,
        0,
        0,
        SECCOMP_RET_ERRNO | libc::EPERM as u32,
    ));
    out.extend(insn(BPF_JMP_JEQ_K, 0, 1, libc::SYS_clone3 as u32));
    out.extend(insn(
        BPF_RET_K,
        0,
        0,
        SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    ));
    for i in program {
        out.extend(insn(i.code, i.jt, i.jf, i.k));
    }
    Ok(out)
}

/// Names of the syscalls refused unconditionally, for docs and `/health`.
pub fn denied_syscall_names() -> Vec<&'static str> {
    let mut names: Vec<_> = denied_syscalls().into_iter().map(|(n, _)| n).collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_compiles_to_whole_bpf_instructions() {
        let bytes = filter_bytes().unwrap();
        assert_eq!(bytes.len() % 8, 0);
        // BPF programs are limited to 4096 instructions.
        assert!(bytes.len() / 8 < 4096);
    }

    #[test]
    fn the_network_variant_differs_and_still_compiles() {
        let closed = filter_bytes().unwrap();
        let open = filter_bytes_for(true).unwrap();
        assert_eq!(closed, filter_bytes_for(false).unwrap());
        assert_ne!(closed, open);
        assert_eq!(open.len() % 8, 0);
    }

    #[test]
    fn dangerous_syscalls_are_in_the_deny_list() {
        let names = denied_syscall_names();
        for n in [
            "ptrace",
            "mount",
            "kexec_load",
            "bpf",
            "keyctl",
            "unshare",
            "setns",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
    }
}
