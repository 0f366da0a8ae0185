//! Hostile load on the agent's socket, bounded and local: more idle connections than the
//! connection cap (`MAX_CONNECTIONS`) and slow writers hold what they can, and real clients still
//! get their answers.

mod common;

use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// More than the agent's cap of 1024 connections at once.
const IDLE: usize = 1100;
const SLOW_WRITERS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_slow_writers_do_not_starve_real_clients() {
    // This process holds more than a thousand sockets too.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let wanted = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, wanted).unwrap();
    let emulator = emulator().await;
    scenario(&emulator, json!({"auto_approve_after_polls": 1})).await;
    let mut world = AgentHome::new(&emulator, "hostile");
    world.start_agent_with(|command| {
        command.env("SSO_AGENT_READ_TIMEOUT_MS", "2000");
    });
    let expected = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    const { assert!(IDLE > sso_agent::agent::server::MAX_CONNECTIONS) };
    // More connections than the cap, saying nothing.
    let idle: Vec<UnixStream> = (0..IDLE)
        .map(|_| UnixStream::connect(&world.socket).expect("the agent accepts"))
        .collect();
    // Slow writers: a frame header promising 100 bytes, then one byte every 100 ms.
    let slow: Vec<std::thread::JoinHandle<bool>> = (0..SLOW_WRITERS)
        .map(|_| {
            let socket = world.socket.clone();
            std::thread::spawn(move || {
                let mut stream = UnixStream::connect(socket).unwrap();
                stream.write_all(&100u32.to_be_bytes()).unwrap();
                for _ in 0..60 {
                    std::thread::sleep(Duration::from_millis(100));
                    if stream.write_all(b" ").is_err() {
                        return true; // the agent hung up on it
                    }
                }
                false
            })
        })
        .collect();

    // Real clients keep getting the same answers meanwhile.
    for _ in 0..20 {
        assert_eq!(
            stdout_of(&world.run(&["credential-process", "--profile", "dev"])),
            expected
        );
    }

    // The read timeout frees every slot the hostile clients held.
    assert!(
        slow.into_iter().all(|writer| writer.join().unwrap()),
        "every slow writer was cut off"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    for mut stream in idle {
        stream
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(
            stream.read(&mut buf).unwrap_or(1),
            0,
            "an idle connection was closed"
        );
    }
    assert_eq!(
        stdout_of(&world.run(&["credential-process", "--profile", "dev"])),
        expected
    );
    world.run(&["logout", "--all"]);
}
