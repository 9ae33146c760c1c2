//! Any bytes, cut into any chunks, fed to a connection of either role: no panic, and
//! after a failure nothing more comes out and nothing can be sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_proto::{Connection, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let role = if control & 1 == 0 { Role::Client } else { Role::Server };
    let chunk = usize::from(control >> 1).max(1);
    let mut conn = Connection::new(role);
    for piece in rest.chunks(chunk) {
        conn.receive_data(piece);
        loop {
            match conn.next_event() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => {
                    assert_eq!(conn.next_event(), Ok(None));
                    assert!(conn.send_text("x").is_err());
                    return;
                }
            }
        }
    }
});
