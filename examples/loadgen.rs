//! Load for the agent, bounded: `loadgen SOCKET CONNECTIONS REQUESTS_PER_CONNECTION PROFILE...`.
//! Each connection is a thread with its own socket, asking for credentials in a loop (profiles in
//! turn); prints one JSON line: requests, errors, seconds, requests/s, p50/p99/max latency (µs).

use sso_agent::protocol::{self, Envelope, Request, PROTOCOL_VERSION};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (socket, connections, per_connection) = (
        args[1].clone(),
        args[2].parse::<usize>().expect("connections"),
        args[3].parse::<usize>().expect("requests per connection"),
    );
    let profiles: Vec<String> = args[4..].to_vec();
    assert!(!profiles.is_empty(), "name at least one profile");
    let frames: Vec<Vec<u8>> = profiles
        .iter()
        .map(|profile| {
            protocol::encode(&Envelope {
                version: PROTOCOL_VERSION,
                body: Request::Credentials {
                    profile: profile.clone(),
                    wait: true,
                },
            })
        })
        .collect();
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|worker| {
                let (socket, frames) = (&socket, &frames);
                scope.spawn(move || {
                    let mut stream = UnixStream::connect(socket).expect("connect");
                    let mut latencies = Vec::with_capacity(per_connection);
                    let mut errors = 0;
                    for n in 0..per_connection {
                        let frame = &frames[(worker * per_connection + n) % frames.len()];
                        let asked = Instant::now();
                        protocol::write_frame(&mut stream, frame).expect("write");
                        let answer = protocol::read_frame(&mut stream).expect("read");
                        latencies.push(asked.elapsed());
                        // A cheap check keeps the client's share of the 2 cores small.
                        if !answer.starts_with(br#"{"type":"credentials""#) {
                            errors += 1;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let errors: usize = results.iter().map(|(_, errors)| errors).sum();
    let mut latencies: Vec<Duration> = results
        .into_iter()
        .flat_map(|(latencies, _)| latencies)
        .collect();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"seconds\": {seconds:.3}, \"per_second\": {:.0}, \"p50_us\": {:.1}, \"p99_us\": {:.1}, \"max_us\": {:.1}}}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
