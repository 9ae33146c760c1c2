//! A JSON feed for the deflate measurements (benches, examples and tests include this
//! file with `#[path]`).

/// A JSON array of market-data-like events, `len` bytes long; `seed` makes each
/// message of a stream different.
pub fn json_payload(len: usize, seed: u64) -> String {
    let symbols = ["ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI"];
    let mut out = String::from("[");
    let mut i = seed * 7919;
    while out.len() < len {
        let symbol = symbols[(i % 5) as usize];
        let bid = 100.0 + (i * 37 % 1000) as f64 / 100.0;
        out.push_str(&format!(
            r#"{{"id":{i},"event":"price_update","symbol":"{symbol}","bid":{bid:.2},"ask":{:.2},"ts":{}}},"#,
            bid + 0.25,
            1_700_000_000_000u64 + i * 17
        ));
        i += 1;
    }
    out.truncate(len - 1);
    out.push(']');
    out
}
