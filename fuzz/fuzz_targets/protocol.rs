//! The agent's request decoder and frame reader on arbitrary bytes: never a panic, never an
//! allocation past the frame cap, and the credentials fast path takes only what the general
//! decoding decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_agent::protocol;

/// Decodes a payload; when the credentials fast path takes it, the general way must decode it
/// the same.
fn decode(payload: &[u8]) {
    let _ = protocol::decode_request(payload);
    if let Some(fast) = protocol::decode_credentials_request(payload) {
        let general =
            protocol::decode_any_envelope(payload).expect("the general way decodes it too");
        assert_eq!(
            (fast.version, fast.config_file, fast.body),
            (general.version, general.config_file, general.body)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    decode(data);
    let mut reader = data;
    while let Ok(payload) = protocol::read_frame(&mut reader) {
        assert!(payload.len() <= protocol::MAX_FRAME);
        decode(&payload);
    }
});
