//! What one connection may cost the agent, on the real binary and socket: a frame header alone
//! does not make it allocate the announced length, a client that never reads its answers is cut
//! off by the write time limit, and at the connection cap idle connections give way to a real
//! request instead of making it wait for the read timeout. Every loop is bounded.

mod common;

use common::home::{stdout_of, AgentHome};
use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

/// The agent's virtual memory size in KiB (VmSize: what it has allocated, touched or not).
fn vm_size_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_frame_header_alone_does_not_allocate_the_announced_length() {
    raise_open_file_limit();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let mut world = AgentHome::new(&emulator, "header");
    let pid = world.start_agent_with(|command| {
        command.env("SSO_AGENT_READ_TIMEOUT_MS", "60000");
    });
    // Warm up: the agent's first connections allocate its runtime's own structures.
    let warm: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(&world.socket).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = vm_size_kib(pid);
    const CONNECTIONS: u64 = 800;
    let header = (sso_agent::protocol::MAX_FRAME as u32).to_be_bytes();
    let held: Vec<UnixStream> = (0..CONNECTIONS)
        .map(|_| {
            let mut stream = UnixStream::connect(&world.socket).unwrap();
            stream.write_all(&header).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let grown = vm_size_kib(pid).saturating_sub(before);
    let announced = CONNECTIONS * sso_agent::protocol::MAX_FRAME as u64 / 1024;
    assert!(
        grown < announced / 4,
        "{CONNECTIONS} headers of 256 KiB grew the agent by {grown} KiB (announced: {announced} KiB)"
    );
    drop((warm, held));
}

#[test]
fn a_client_that_never_reads_its_answers_is_cut_off() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let mut world = AgentHome::new(&emulator, "noread");
    world.start_agent_with(|command| {
        command.env("SSO_AGENT_READ_TIMEOUT_MS", "1000");
    });
    let mut stream = UnixStream::connect(&world.socket).unwrap();
    // Status requests, pipelined, and no answer ever read: the answers fill the socket buffers
    // and the agent's write blocks; only its time limit lets go of the connection.
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let frame = sso_agent::protocol::encode(&sso_agent::protocol::Envelope {
        config_file: None,
        version: sso_agent::protocol::PROTOCOL_VERSION,
        body: sso_agent::protocol::Request::Status,
    });
    let started = Instant::now();
    let mut outcome = None;
    for _ in 0..200_000 {
        if let Err(err) = stream.write_all(&frame) {
            outcome = Some(err.kind());
            break;
        }
    }
    assert!(
        matches!(
            outcome,
            Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
        ),
        "the agent closed the connection (got {outcome:?} after {:?})",
        started.elapsed()
    );
    // The agent still serves others.
    stdout_of(&world.run(&["status"]));
}

/// A client that sends many requests before it reads any answer fills its socket buffer, so the
/// agent's writes must wait for room (the connection is registered for readable events only,
/// and a waiting write registers for writable ones); once it reads, every answer arrives whole,
/// in order, and the connection goes on serving.
#[test]
fn a_client_that_reads_late_gets_every_answer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let mut world = AgentHome::new(&emulator, "lateread");
    world.start_agent();
    let mut stream = UnixStream::connect(&world.socket).unwrap();
    let frame = sso_agent::protocol::encode(&sso_agent::protocol::Envelope {
        config_file: None,
        version: sso_agent::protocol::PROTOCOL_VERSION,
        body: sso_agent::protocol::Request::Status,
    });
    // Far more answer bytes than a Unix socket buffers (a few hundred KiB).
    const REQUESTS: usize = 4000;
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        for _ in 0..REQUESTS {
            writer.write_all(&frame).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answered = 0;
    for _ in 0..REQUESTS {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).unwrap();
        let mut answer = vec![0u8; u32::from_be_bytes(header) as usize];
        stream.read_exact(&mut answer).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["type"], "status", "answer {answered}: {answer}");
        answered += 1;
    }
    sending.join().unwrap();
    assert_eq!(answered, REQUESTS);
    // The same connection still answers at once.
    let again = sso_agent::protocol::encode(&sso_agent::protocol::Envelope {
        config_file: None,
        version: sso_agent::protocol::PROTOCOL_VERSION,
        body: sso_agent::protocol::Request::Status,
    });
    stream.write_all(&again).unwrap();
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    assert!(u32::from_be_bytes(header) > 0);
}

#[test]
fn at_the_connection_cap_idle_connections_give_way_to_a_request() {
    raise_open_file_limit();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    runtime.block_on(scenario(&emulator, json!({"auto_approve_after_polls": 1})));
    let mut world = AgentHome::new(&emulator, "cap");
    // A read timeout far longer than the answer may take: without eviction the request would
    // wait for it.
    const READ_TIMEOUT_S: u64 = 40;
    world.start_agent_with(|command| {
        command.env(
            "SSO_AGENT_READ_TIMEOUT_MS",
            (READ_TIMEOUT_S * 1000).to_string(),
        );
    });
    let expected = stdout_of(&world.run(&["credential-process", "--profile", "dev"]));

    let opened = Instant::now();
    let idle: Vec<UnixStream> = (0..1100)
        .map(|_| UnixStream::connect(&world.socket).expect("the agent accepts"))
        .collect();
    assert!(idle.len() > sso_agent::agent::server::MAX_CONNECTIONS);
    let asked = Instant::now();
    let output = world.run(&["credential-process", "--profile", "dev"]);
    let waited = asked.elapsed();
    assert_eq!(stdout_of(&output), expected, "the request was answered");
    assert!(
        opened.elapsed() < Duration::from_secs(READ_TIMEOUT_S),
        "answered before the read timeout could have freed a slot (waited {waited:?})"
    );
    // The connections that gave way were closed by the agent; the newest are still open.
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(
        first.read(&mut byte).unwrap(),
        0,
        "the longest-idle one was closed"
    );
    drop(idle);
    world.run(&["logout", "--all"]);
}
