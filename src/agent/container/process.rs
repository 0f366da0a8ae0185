//! Whether the process a grant was made for still runs, asked of the kernel by a handle on that
//! very process (a pidfd on Linux, a kqueue `NOTE_EXIT` registration on macOS), so a pid reused
//! by another process after the first one exits does not keep the grant alive.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

pub struct ProcessWatch {
    handle: OwnedFd,
}

impl ProcessWatch {
    /// Watches `pid`. The caller is the process on the other end of a connection that waits for
    /// this answer, so it runs now (unless it was killed in between, and then the watch fails
    /// or reports it gone).
    #[cfg(target_os = "linux")]
    pub fn new(pid: u32) -> io::Result<Self> {
        use rustix::process::{pidfd_open, Pid, PidfdFlags};
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let handle = pidfd_open(pid, PidfdFlags::empty())?;
        Ok(Self { handle })
    }

    #[cfg(target_os = "macos")]
    pub fn new(pid: u32) -> io::Result<Self> {
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
        Ok(Self { handle })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_child_is_running_until_it_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let watch = ProcessWatch::new(child.id()).unwrap();
        assert!(watch.running());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!watch.running());
    }
}
