//! Whether the process a grant was made for still runs, asked of the kernel by a handle on that
//! very process (a pidfd on Linux, a kqueue `NOTE_EXIT` registration on macOS), so a pid reused
//! by another process after the first one exits does not keep the grant alive.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// The process on the other end of an agent connection.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    /// As `SO_PEERCRED` / `LOCAL_PEERPID` told it when the connection was accepted.
    pub pid: Option<u32>,
    pub socket: BorrowedFd<'a>,
}

pub struct ProcessWatch {
    handle: OwnedFd,
    pid: u32,
}

impl ProcessWatch {
    /// Watches the process that connected. On Linux `SO_PEERPIDFD` (6.5+) hands over a pidfd
    /// the kernel took at `connect`, so even a caller that exited and whose pid was reused since
    /// is watched as itself (and reads as gone). Older kernels fall back to opening the pid,
    /// which the caller still holds: it waits for this answer on the connection.
    #[cfg(target_os = "linux")]
    pub fn of_caller(caller: Caller<'_>) -> io::Result<Self> {
        let pid = caller
            .pid
            .ok_or_else(|| io::Error::other("the connection does not tell its process"))?;
        match peer_pidfd(caller.socket) {
            Ok(handle) => Ok(Self { handle, pid }),
            Err(err) if matches!(err.raw_os_error(), Some(libc::ENOPROTOOPT | libc::EINVAL)) => {
                Self::of_pid(pid)
            }
            Err(err) => Err(err),
        }
    }

    #[cfg(target_os = "macos")]
    pub fn of_caller(caller: Caller<'_>) -> io::Result<Self> {
        let pid = caller
            .pid
            .ok_or_else(|| io::Error::other("the connection does not tell its process"))?;
        Self::of_pid(pid)
    }

    #[cfg(target_os = "linux")]
    fn of_pid(pid: u32) -> io::Result<Self> {
        use rustix::process::{pidfd_open, Pid, PidfdFlags};
        let raw = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let handle = pidfd_open(raw, PidfdFlags::empty())?;
        Ok(Self { handle, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    #[cfg(target_os = "macos")]
    fn of_pid(pid: u32) -> io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: kqueue takes no arguments; the fd it returns is owned here.
        let kq = unsafe { libc::kqueue() };
        if kq < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `kq` was just returned open and nothing else owns it.
        let handle = unsafe { OwnedFd::from_raw_fd(kq) };
        let change = libc::kevent {
            ident: pid as libc::uintptr_t,
            filter: libc::EVFILT_PROC,
            flags: libc::EV_ADD | libc::EV_ONESHOT,
            fflags: libc::NOTE_EXIT,
            data: 0,
            udata: std::ptr::null_mut(),
        };
        // SAFETY: one valid change record, no event buffer.
        let rc = unsafe {
            libc::kevent(
                handle.as_raw_fd(),
                &change,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { handle, pid })
    }

    /// False once the process has exited: the handle becomes readable then.
    pub fn running(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.handle.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout never blocks.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        // An error says nothing good about the process: treat it as gone.
        ready == 0
    }
}

/// `getsockopt(SO_PEERPIDFD)`: a pidfd for the process that connected.
#[cfg(target_os = "linux")]
fn peer_pidfd(socket: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `socket` is an open socket for the call's duration; `fd` and `len` are valid
    // out-parameters of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERPIDFD,
            (&mut fd as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel installed a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_child_is_running_until_it_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let watch = ProcessWatch::of_pid(child.id()).unwrap();
        assert!(watch.running());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!watch.running());
    }

    /// The peer of a socket pair is this process: watched through the connection, it runs.
    #[test]
    fn a_caller_is_watched_through_its_connection() {
        use std::os::fd::AsFd;
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let caller = Caller {
            pid: Some(std::process::id()),
            socket: ours.as_fd(),
        };
        let watch = ProcessWatch::of_caller(caller).unwrap();
        assert_eq!(watch.pid(), std::process::id());
        assert!(watch.running());
    }

    /// A caller that connected and exited before the agent got to it (its pid free for reuse)
    /// is never watched as running: the connection's pidfd names the process that connected.
    #[test]
    fn a_caller_gone_before_the_grant_is_not_running() {
        use std::os::fd::AsFd;
        let dir = std::env::temp_dir().join(format!("sso-agent-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
            ])
            .arg(&path)
            .spawn()
            .unwrap();
        let (stream, _) = listener.accept().unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success());
        let caller = Caller {
            pid: Some(pid),
            socket: stream.as_fd(),
        };
        let watched = ProcessWatch::of_caller(caller);
        std::fs::remove_dir_all(&dir).unwrap();
        // Refused outright (a pid that is gone) or watched as ended; never as running.
        assert!(watched.map_or(true, |watch| !watch.running()));
    }
}
