//! The commit listener: a connection of its own that `LISTEN`s on the channel every create's
//! transaction notifies, and calls the engine's waker on each notification. A wake-up only
//! (the events are read from the audit log); it reconnects with backoff when the connection
//! is lost, waking once after each reconnect for what it may have missed, and stops when the
//! store is dropped.

use std::time::Duration;

use cmdb_core::ports::CommitWaker;
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use crate::sql;

/// The first wait before connecting again, doubled up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between attempts to connect.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Starts the listener on a thread of its own (it runs whatever the caller's runtime); it
/// stops when `stop`'s sender is dropped.
pub(crate) fn spawn(config: Config, wake: CommitWaker, stop: oneshot::Receiver<()>) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return false;
    };
    let started = std::thread::Builder::new()
        .name("cmdb-pg-listen".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    () = listen_forever(&config, &wake) => {}
                    _ = stop => {}
                }
            });
        });
    started.is_ok()
}

async fn listen_forever(config: &Config, wake: &CommitWaker) {
    let mut delay = MIN_DELAY;
    loop {
        match listen(config, wake).await {
            // It listened, then lost the connection: start again at once.
            Ok(()) => delay = MIN_DELAY,
            Err(e) => {
                tracing::warn!(error = %e, "the commit listener cannot reach PostgreSQL");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
        // Commits may have gone unheard meanwhile: let the watchers look.
        wake();
    }
}

/// One listening connection, until it is lost.
async fn listen(config: &Config, wake: &CommitWaker) -> Result<(), tokio_postgres::Error> {
    let mut config = config.clone();
    config.application_name("cmdb-listen");
    config.connect_timeout(Duration::from_secs(10));
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    {
        let listening = client.batch_execute(sql::LISTEN_COMMITS);
        tokio::pin!(listening);
        // The connection is driven by polling its messages, also while LISTEN is answered.
        loop {
            tokio::select! {
                done = &mut listening => { done?; break; }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
            }
        }
    }
    while let Some(message) = messages.next().await {
        match message? {
            AsyncMessage::Notification(n) if n.channel() == sql::COMMITS_CHANNEL => wake(),
            _ => {}
        }
    }
    drop(client);
    Ok(())
}
