/// Resolves on Ctrl-C (SIGINT) or SIGTERM, whichever comes first.
pub async fn interrupted() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Serves until Ctrl-C or SIGTERM, then shuts the server down gracefully (every
/// connection closed with 1001).
pub async fn serve_until_interrupted(server: wsock::Server) -> wsock::Result<()> {
    let handle = server.shutdown_handle();
    tokio::spawn(async move {
        interrupted().await;
        tracing::info!("interrupted: closing connections with 1001 and exiting");
        handle.shutdown();
    });
    server.serve().await
}
