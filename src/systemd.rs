//! Readiness and reload notifications to systemd (`Type=notify`), through the sd-notify crate
//! (the protocol: a datagram to `$NOTIFY_SOCKET`). Without that variable they do nothing.

use tracing::debug;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!("sd_notify: {e}");
    }
}

/// The server answers: configuration loaded, first probe round done, sockets bound.
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// A reload has begun. `MONOTONIC_USEC` goes with it, as systemd 253 and later require
/// (sd_notify(3): RELOADING=1 must carry the CLOCK_MONOTONIC time of the request).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading"),
        ]),
        Err(e) => debug!("sd_notify: no monotonic time: {e}"),
    }
}

/// The reload has ended (taken or rejected): serving again. `status` says which.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Stopping: answering what was received, then exiting.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}
