//! A listening socket handed over by the service manager: systemd (`LISTEN_FDS`, through
//! `listenfd`) or launchd (`launch_activate_socket`). None when the agent was started by hand.

use std::io;
use std::os::unix::net::UnixListener;

#[cfg(not(target_os = "macos"))]
pub fn inherited_listener() -> io::Result<Option<UnixListener>> {
    // Checks LISTEN_PID, so a socket meant for another process is never taken.
    listenfd::ListenFd::from_env().take_unix_listener(0)
}

#[cfg(target_os = "macos")]
pub fn inherited_listener() -> io::Result<Option<UnixListener>> {
    launchd::activate_socket("Listeners")
}

/// launchd's socket hand-over (launch(3)). Written against the documented API; this project's CI
/// has no macOS, so it is untested there.
#[cfg(target_os = "macos")]
mod launchd {
    use std::ffi::CString;
    use std::io;
    use std::os::unix::io::FromRawFd;
    use std::os::unix::net::UnixListener;

    extern "C" {
        fn launch_activate_socket(
            name: *const libc::c_char,
            fds: *mut *mut libc::c_int,
            count: *mut libc::size_t,
        ) -> libc::c_int;
    }

    pub fn activate_socket(name: &str) -> io::Result<Option<UnixListener>> {
        let name = CString::new(name).expect("a socket name has no NUL");
        let mut fds: *mut libc::c_int = std::ptr::null_mut();
        let mut count: libc::size_t = 0;
        // SAFETY: launchd fills `fds` with `count` descriptors it allocated with malloc.
        let err = unsafe { launch_activate_socket(name.as_ptr(), &mut fds, &mut count) };
        if err == libc::ESRCH || err == libc::ENOENT {
            return Ok(None); // not started by launchd, or no such socket in the plist
        }
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
        // SAFETY: as above; each descriptor is ours to own, the array ours to free.
        let listener = unsafe {
            let fds_slice = std::slice::from_raw_parts(fds, count);
            for extra in fds_slice.iter().skip(1) {
                libc::close(*extra);
            }
            let first = fds_slice.first().map(|fd| UnixListener::from_raw_fd(*fd));
            libc::free(fds.cast());
            first
        };
        Ok(listener)
    }
}
