//! Who is on the other end of a Unix socket, as the kernel says (`SO_PEERCRED` on Linux,
//! `getpeereid` + `LOCAL_PEERPID` on macOS). For a listening server these are its credentials
//! when it called `listen()`, so a client can tell its own agent from another user's.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    pub uid: u32,
    /// Unknown on platforms that do not report it.
    pub pid: Option<u32>,
}

/// The peer of a connected stream. std's `UnixStream::peer_cred` is not stable yet, hence libc.
#[cfg(target_os = "linux")]
pub fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the size given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCredentials {
        uid: cred.uid,
        pid: u32::try_from(cred.pid).ok().filter(|pid| *pid != 0),
    })
}

#[cfg(target_os = "macos")]
pub fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: the out-pointers are valid; the fd is open.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut pid: libc::pid_t = 0;
    let mut len = std::mem::size_of::<libc::pid_t>() as libc::socklen_t;
    // SAFETY: as above; LOCAL_PEERPID writes one pid_t.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_LOCAL,
            libc::LOCAL_PEERPID,
            (&mut pid as *mut libc::pid_t).cast(),
            &mut len,
        )
    };
    Ok(PeerCredentials {
        uid,
        pid: (rc == 0 && pid > 0).then_some(pid as u32),
    })
}
