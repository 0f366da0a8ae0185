//! A desktop for notification tests: dunst (a freedesktop notification server) under Xvfb on
//! the test's D-Bus session, dbus-monitor recording every Notifications call, `dunstctl` to click.
//! The same as tests/desktop.rs's own, shared for the tests of other files.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Xvfb + dunst + dbus-monitor, stopped when dropped. One at a time: the tests share the
/// session bus, where one server owns the notifications name.
pub struct Desktop {
    processes: Vec<Child>,
    monitor: Arc<Mutex<String>>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_DESKTOP: Mutex<()> = Mutex::new(());

impl Desktop {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A desktop whose dunst takes these extra arguments (e.g. `-config FILE`).
    pub fn start_with(dunst_args: &[&std::ffi::OsStr]) -> Self {
        let turn = ONE_DESKTOP
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "no D-Bus session: run the suite with scripts/test"
        );
        let spawn = |command: &mut Command| {
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        // Xvfb picks a free display itself and writes its number once it listens: a display a
        // killed Xvfb left locked (its /tmp/.X*-lock stays) is never reused.
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "800x600x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut number = String::new();
        {
            use std::io::BufRead;
            let mut out = std::io::BufReader::new(xvfb.stdout.take().unwrap());
            out.read_line(&mut number).unwrap();
        }
        let number = number.trim();
        assert!(!number.is_empty(), "Xvfb did not start");
        let display = format!(":{number}");
        let mut processes = vec![xvfb];
        processes.push(spawn(
            Command::new("dunst")
                .args(dunst_args)
                .env("DISPLAY", &display),
        ));
        wait_until("dunst to own org.freedesktop.Notifications", || {
            Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.Notifications",
                ])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
        });
        let mut monitor = Command::new("dbus-monitor")
            .args(["--session", "interface='org.freedesktop.Notifications'"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let text = Arc::new(Mutex::new(String::new()));
        let mut stdout = monitor.stdout.take().unwrap();
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        processes.push(monitor);
        std::thread::sleep(Duration::from_millis(300)); // dbus-monitor's match rule is in place
        Self {
            processes,
            monitor: text,
            _turn: turn,
        }
    }

    pub fn recorded(&self) -> String {
        self.monitor.lock().unwrap().clone()
    }

    pub fn wait_for(&self, what: &str, needle: &str) -> String {
        wait_until(what, || self.recorded().contains(needle));
        self.recorded()
    }

    /// Chooses a named action of the notification on screen through dunst's context menu (its
    /// `dmenu` must be a program that picks the line, see `start_with`).
    pub fn choose(&self) {
        let status = Command::new("dunstctl").arg("context").status().unwrap();
        assert!(status.success());
    }

    /// Clicks the first notification on screen (its default action).
    pub fn click(&self) {
        let status = Command::new("dunstctl")
            .args(["action", "0"])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        for process in self.processes.iter_mut().rev() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// Polls `ready` for at most 15 s.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
