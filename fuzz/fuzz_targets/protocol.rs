//! The agent's request decoder and frame reader on arbitrary bytes: never a panic, never an
//! allocation past the frame cap, and the credentials fast path takes only what the general
//! decoding decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_agent::protocol;

fuzz_target!(|data: &[u8]| {
    let _ = protocol::decode_request(data);
    if let Some(fast) = protocol::decode_credentials_request(data) {
        let general = protocol::decode_any_envelope(data).expect("the general way decodes it too");
        assert_eq!(
            (fast.version, fast.config_file, fast.body),
            (general.version, general.config_file, general.body)
        );
    }
    let mut reader = data;
    while let Ok(payload) = protocol::read_frame(&mut reader) {
        assert!(payload.len() <= protocol::MAX_FRAME);
        let _ = protocol::decode_request(&payload);
    }
});
