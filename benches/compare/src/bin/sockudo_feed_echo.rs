//! sockudo-ws echo server with `feed()` per reply, the "Tokio unified echo loop" its
//! README recommends for batching.
fn main() {
    wsock_compare::serve_sockudo(true);
}
