//! In-process figures (criterion), run by `scripts/bench`: the agent's own cost of answering a
//! cached credentials request with 10 roles cached and with 10,000 (P5: flat), and of decoding a
//! request frame. No socket: `loadgen` measures the same path with the kernel and the scheduler.
//!
//! The agent is the real one, with an in-memory token store, logged in through the embedded
//! emulator; the config has one sso-session and 10,000 role profiles.

use criterion::{criterion_group, criterion_main, Criterion};
use sso_agent::agent::{Agent, Reply};
use sso_agent::emulator::{fixture::Account, Fixture, RunningEmulator, Scenario};
use sso_agent::notify::RecordingNotifier;
use sso_agent::protocol::{self, Envelope, Request, PROTOCOL_VERSION};
use sso_agent::store::{MemoryStore, OpenedStore};
use std::sync::Arc;

const ROLES: usize = 10_000;

struct World {
    runtime: tokio::runtime::Runtime,
    agent: Arc<Agent>,
    _emulator: RunningEmulator,
    home: std::path::PathBuf,
}

impl World {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fixture = Fixture {
            accounts: vec![Account {
                account_id: "111122223333".into(),
                account_name: "bench".into(),
                email_address: "bench@example.com".into(),
                roles: (0..ROLES).map(|n| format!("Role{n:05}")).collect(),
                disabled_regions: Vec::new(),
            }],
            users: Vec::new(),
            licenses: Vec::new(),
        };
        let emulator = runtime.block_on(async {
            RunningEmulator::start("127.0.0.1:0".parse().unwrap(), fixture)
                .await
                .unwrap()
        });
        emulator
            .set_scenario(Scenario {
                auto_approve_after_polls: Some(1),
                ..Scenario::default()
            })
            .unwrap();
        let home = std::env::temp_dir().join(format!("sso-agent-bench-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        let mut config = String::from(
            "[sso-session bench]\nsso_start_url = https://bench.awsapps.com/start\nsso_region = us-east-1\n",
        );
        for n in 0..ROLES {
            config.push_str(&format!(
                "\n[profile r{n}]\nsso_session = bench\nsso_account_id = 111122223333\nsso_role_name = Role{n:05}\n"
            ));
        }
        std::fs::write(home.join(".aws/config"), config).unwrap();
        // Read when the agent and its SDK clients are made, below; nothing else runs yet.
        std::env::set_var("HOME", &home);
        std::env::set_var("AWS_CONFIG_FILE", home.join(".aws/config"));
        std::env::set_var("AWS_ENDPOINT_URL_SSO_OIDC", &emulator.base_url);
        std::env::set_var("AWS_ENDPOINT_URL_SSO", &emulator.base_url);
        let opened = OpenedStore {
            store: Arc::new(MemoryStore::default()),
            passed_over: Vec::new(),
        };
        let agent = Agent::new(opened, Arc::new(RecordingNotifier::default()));
        Self {
            runtime,
            agent,
            _emulator: emulator,
            home,
        }
    }

    /// Asks for the first `roles` profiles' credentials, so that many are cached.
    fn cache(&self, roles: std::ops::Range<usize>) {
        self.runtime.block_on(async {
            for n in roles {
                let reply = self.agent.handle(credentials(&format!("r{n}"))).await;
                assert!(
                    matches!(reply, Reply::Encoded(_)),
                    "r{n} got no credentials"
                );
            }
        });
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn credentials(profile: &str) -> Request {
    Request::Credentials {
        profile: profile.to_string(),
        wait: true,
    }
}

fn request(c: &mut Criterion) {
    let world = World::new();
    let mut group = c.benchmark_group("request");
    world.cache(0..10);
    group.bench_function("cached, 10 roles", |b| {
        b.to_async(&world.runtime)
            .iter(|| world.agent.handle(credentials("r0")))
    });
    world.cache(10..ROLES);
    group.bench_function("cached, 10000 roles", |b| {
        b.to_async(&world.runtime)
            .iter(|| world.agent.handle(credentials("r0")))
    });
    let frame = protocol::encode(&Envelope {
        config_file: None,
        version: PROTOCOL_VERSION,
        body: credentials("r0"),
    });
    group.bench_function("decode", |b| {
        b.iter(|| protocol::decode_request(&frame[4..]).unwrap())
    });
    group.finish();
}

criterion_group!(benches, request);
criterion_main!(benches);
