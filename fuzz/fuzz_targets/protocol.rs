//! The agent's request decoder and frame reader on arbitrary bytes: never a panic, never an
//! allocation past the frame cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_agent::protocol;

fuzz_target!(|data: &[u8]| {
    let _ = protocol::decode_request(data);
    let mut reader = data;
    while let Ok(payload) = protocol::read_frame(&mut reader) {
        assert!(payload.len() <= protocol::MAX_FRAME);
        let _ = protocol::decode_request(&payload);
    }
});
