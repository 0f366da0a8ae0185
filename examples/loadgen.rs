//! Load for the agent, bounded: `loadgen SOCKET CONNECTIONS REQUESTS_PER_CONNECTION PROFILE...`.
//! Each connection asks again as soon as it has its answer (profiles in turn).
//!
//! One thread drives every connection (tokio's current-thread runtime), so the client uses one
//! core at most: with a thread per connection, 64 client threads took turns with the agent on
//! the 2 cores, and the p99 measured the client's scheduling as much as the agent.
//!
//! Prints one JSON line: requests, errors, seconds, requests/s, p50/p99/max latency (µs), and
//! the size of an answer.

use sso_agent::protocol::{self, Envelope, Request, PROTOCOL_VERSION};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

struct Load {
    socket: String,
    connections: usize,
    per_connection: usize,
    frames: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    /// The size of the last answer's payload (the bench sizes the floor server's answer by it).
    answer_bytes: usize,
}

fn main() {
    let load = parse(std::env::args().skip(1).collect());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let outcomes = runtime.block_on(tokio::task::LocalSet::new().run_until(run(Rc::new(load))));
    report(outcomes, started.elapsed());
}

fn parse(args: Vec<String>) -> Load {
    let usage = "usage: loadgen SOCKET CONNECTIONS REQUESTS_PER_CONNECTION PROFILE...";
    assert!(args.len() >= 4, "{usage}");
    let frames = args[3..]
        .iter()
        .map(|profile| {
            protocol::encode(&Envelope {
                config_file: None,
                version: PROTOCOL_VERSION,
                body: Request::Credentials {
                    profile: profile.clone(),
                    wait: true,
                },
            })
        })
        .collect();
    Load {
        socket: args[0].clone(),
        connections: args[1].parse().expect(usage),
        per_connection: args[2].parse().expect(usage),
        frames,
    }
}

async fn run(load: Rc<Load>) -> Vec<Outcome> {
    // Connect every client first, so the clock measures requests only.
    let mut streams = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        streams.push(UnixStream::connect(&load.socket).await.expect("connect"));
    }
    let clients: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(worker, stream)| tokio::task::spawn_local(client(load.clone(), worker, stream)))
        .collect();
    let mut outcomes = Vec::with_capacity(clients.len());
    for client in clients {
        outcomes.push(client.await.expect("client"));
    }
    outcomes
}

async fn client(load: Rc<Load>, worker: usize, mut stream: UnixStream) -> Outcome {
    let mut outcome = Outcome {
        latencies: Vec::with_capacity(load.per_connection),
        ..Outcome::default()
    };
    let mut answer = Vec::new();
    for n in 0..load.per_connection {
        let frame = &load.frames[(worker * load.per_connection + n) % load.frames.len()];
        let asked = Instant::now();
        stream.write_all(frame).await.expect("write");
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await.expect("read");
        answer.resize(u32::from_be_bytes(header) as usize, 0);
        stream.read_exact(&mut answer).await.expect("read");
        outcome.latencies.push(asked.elapsed());
        // A cheap check keeps the client's share of the CPU small.
        if !answer.starts_with(br#"{"type":"credentials""#) {
            outcome.errors += 1;
        }
        outcome.answer_bytes = answer.len();
    }
    outcome
}

fn report(outcomes: Vec<Outcome>, elapsed: Duration) {
    let errors: usize = outcomes.iter().map(|outcome| outcome.errors).sum();
    let answer_bytes = outcomes.iter().map(|outcome| outcome.answer_bytes).max();
    let mut latencies: Vec<Duration> = outcomes
        .into_iter()
        .flat_map(|outcome| outcome.latencies)
        .collect();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    let seconds = elapsed.as_secs_f64();
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"seconds\": {seconds:.3}, \"per_second\": {:.0}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"max_us\": {:.1}, \"answer_bytes\": {}}}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        at(0.5),
        at(0.99),
        at(1.0),
        answer_bytes.unwrap_or(0)
    );
}
