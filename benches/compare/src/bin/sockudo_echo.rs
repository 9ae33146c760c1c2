//! sockudo-ws echo server with `send()` per reply, as its README's Quick Start.
fn main() {
    wsock_compare::serve_sockudo(false);
}
